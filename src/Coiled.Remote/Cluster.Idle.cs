using Coiled.Remote.Scheduling;
using Coiled.Remote.Telemetry;

namespace Coiled.Remote;

/// <summary>The warning that the cluster keeps idle workers (<see cref="ClusterOptions.IdleWarningAfter"/>).</summary>
public sealed partial class Cluster
{
    /// <summary>How often the cluster looks for idle workers.</summary>
    internal static readonly TimeSpan IdleCheckInterval = TimeSpan.FromSeconds(1);

    private Task _idleWatch = Task.CompletedTask;

    /// <summary>Starts looking for idle workers once a second, until the cluster is disposed or it warned; nothing when the options ask for no warning.</summary>
    private void WatchIdleWorkers()
    {
        if (IdleWarning.Enabled(_options.IdleWarningAfter))
        {
            _idleWatch = Task.Run(WatchIdleWorkersAsync);
        }
    }

    private async Task WatchIdleWorkersAsync()
    {
        var time = _options.TimeProvider;
        var warning = new IdleWarning(_options.IdleWarningAfter, time);
        using var timer = new PeriodicTimer(IdleCheckInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_lifetime.Token).ConfigureAwait(false))
            {
                var (idle, ready) = _scheduler.IdleWorkers();
                var now = time.GetTimestamp();
                if (warning.Check(now, idle) is { } overdue)
                {
                    WarnIdle(overdue, ready, now);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            // The cluster is being disposed.
        }
    }

    /// <summary>Logs, once, which workers sit idle and what they cost an hour where the backend knows prices, else what machines they hold.</summary>
    private void WarnIdle(IReadOnlyList<Scheduler.IdleWorker> overdue, int ready, long now)
    {
        var time = _options.TimeProvider;
        var first = overdue.Min(w => w.IdleSince);
        var since = time.GetUtcNow() - time.GetElapsedTime(first, now);
        var after = _options.IdleWarningAfter is { TotalSeconds: < 120 } brief
            ? $"{brief.TotalSeconds:0.#} s"
            : $"{_options.IdleWarningAfter.TotalMinutes:0.#} min";
        _scheduler.Metrics.IdleWarned();
        var connections = overdue.Select(w => w.Worker).OfType<WorkerConnection>().ToList();
        if (_backend is IBillingBackend billing
            && connections.Count == overdue.Count
            && connections.Select(c => billing.HourlyCost(c.Endpoint)).ToList() is var prices
            && prices.All(p => p is not null))
        {
            _logger.IdleWorkersCosting(overdue.Count, ready, after, since, Dollars(prices.Sum(p => p!.Value)));
            return;
        }

        var machines = overdue.Select(w => w.Worker.Address.Host).Distinct(StringComparer.OrdinalIgnoreCase).Count();
        _logger.IdleWorkers(overdue.Count, ready, after, since, machines, overdue.Sum(w => w.Worker.Slots));
    }
}
