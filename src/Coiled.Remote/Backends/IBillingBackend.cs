namespace Coiled.Remote;

/// <summary>
/// A backend that knows when each of its machines was paid for and at what price (EC2): what the cluster's summary counts
/// as paid time, and what its idle warning says idle workers cost.
/// </summary>
internal interface IBillingBackend
{
    /// <summary>Seconds the backend's machines have been paid for so far, added up over every machine, as its cost counts them.</summary>
    double PaidSeconds { get; }

    /// <summary>What the machine of the worker at <paramref name="endpoint"/> costs per hour in US dollars, all told; null when unknown.</summary>
    decimal? HourlyCost(WorkerEndpoint endpoint);
}
