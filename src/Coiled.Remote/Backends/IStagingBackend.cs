using Coiled.Remote.Synchronization;

namespace Coiled.Remote;

/// <summary>A backend whose workers fetch the application's files from shared storage instead of receiving them from the caller.</summary>
internal interface IStagingBackend
{
    /// <summary>The storage, once the workers were started; null when they take uploads from the caller.</summary>
    IBlobStaging? Staging { get; }
}
