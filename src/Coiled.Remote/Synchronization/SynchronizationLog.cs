using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Synchronization;

// Event ids by area: worker daemon 1000-1099, executors 1100-1199, EC2 2000-2999,
// synchronization 3000-3099 (this file), backends 3100-3199 (Backends/BackendLog.cs), scheduler 4000-4099, cluster 4100-4199.

/// <summary>The log lines of scanning and snapshotting the application's folder (event ids 3000-3099).</summary>
internal static partial class SynchronizationLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message =
        "Native library {Library} of {Packages} has no build for the workers' runtime {RuntimeIdentifier} (only for {Available}): " +
        "calls into it will fail there with DllNotFoundException. Reference a package that brings it for that runtime, or use workers that can run one of those")]
    public static partial void NativeLibraryMissing(this ILogger logger, string library, string packages, string runtimeIdentifier, string available);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message =
        "{Path} is held open by another process that lets no one else read it ({Reason}); it is left out of the synchronization, " +
        "and workers will not have it. Close it before starting the cluster, or keep it out of the output folder")]
    public static partial void FileHeldOpen(this ILogger logger, string path, string reason);
}
