using Microsoft.Extensions.Logging;

namespace Coiled.Remote.KeptClusters;

/// <summary>Named clusters' log lines: started, attached, kept, gone (event ids 4150-4169).</summary>
internal static partial class KeptClusterLog
{
    [LoggerMessage(EventId = 4150, Level = LogLevel.Information, Message =
        "Named cluster {Name} started; its {Workers} worker(s) keep running for {KeepAlive} without a client after it is disposed or this process ends")]
    public static partial void NamedClusterStarted(this ILogger logger, string name, int workers, TimeSpan keepAlive);

    [LoggerMessage(EventId = 4151, Level = LogLevel.Information, Message =
        "Attached to named cluster {Name} in {Milliseconds:0} ms: {Workers} worker(s), running for {Age}; sent {Blobs} changed file(s), {Bytes} byte(s)")]
    public static partial void NamedClusterAttached(this ILogger logger, string name, double milliseconds, int workers, TimeSpan age, int blobs, long bytes);

    [LoggerMessage(EventId = 4152, Level = LogLevel.Warning, Message =
        "Named cluster {Name} is registered, but none of its {Workers} worker(s) runs any more (they stop after {KeepAlive} without a client, or were stopped); starting a new one")]
    public static partial void NamedClusterGone(this ILogger logger, string name, int workers, TimeSpan keepAlive);

    [LoggerMessage(EventId = 4153, Level = LogLevel.Warning, Message = "{Gone} of the {Workers} worker(s) of named cluster {Name} no longer run; attaching to the others")]
    public static partial void NamedClusterWorkersGone(this ILogger logger, int gone, int workers, string name);

    [LoggerMessage(EventId = 4154, Level = LogLevel.Information, Message =
        "Named cluster {Name} keeps its {Workers} worker(s) running for {KeepAlive} without a client: start a cluster named {Name} to attach, or run `coiled-remote stop {Name}`")]
    public static partial void NamedClusterKept(this ILogger logger, string name, int workers, TimeSpan keepAlive);

    [LoggerMessage(EventId = 4155, Level = LogLevel.Information, Message = "Named cluster {Name} stopped its workers (ClusterOptions.KeepAlive is zero)")]
    public static partial void NamedClusterStopped(this ILogger logger, string name);

    [LoggerMessage(EventId = 4156, Level = LogLevel.Warning, Message = "The registry entry of named cluster {Name} cannot be read ({Reason}); starting a new cluster of that name")]
    public static partial void RegistryEntryUnreadable(this ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 4157, Level = LogLevel.Warning, Message = "The registry entry of named cluster {Name} could not be updated ({Reason}); its workers run on until their keep-alive ends")]
    public static partial void RegistryNotUpdated(this ILogger logger, Exception exception, string name, string reason);

    [LoggerMessage(EventId = 4158, Level = LogLevel.Information, Message =
        "Named cluster {Name}'s workers keep the keep-alive of {KeepAlive} they started with; this start's {Asked} applies to workers it adds")]
    public static partial void KeepAliveUnchanged(this ILogger logger, string name, TimeSpan keepAlive, TimeSpan asked);
}
