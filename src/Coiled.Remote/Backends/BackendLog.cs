using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

// Event ids by area: worker daemon 1000-1099, executors 1100-1199, EC2 2000-2999,
// synchronization 3000-3099 (Synchronization/SynchronizationLog.cs), backends 3100-3199 (this file), scheduler 4000-4099, cluster 4100-4199.

/// <summary>The log lines of the backends that start workers themselves (event ids 3100-3199).</summary>
internal static partial class BackendLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "worker {Pid}: {Line}")]
    public static partial void WorkerOutput(this ILogger logger, int pid, string line);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "worker {Pid}: {Line}")]
    public static partial void WorkerError(this ILogger logger, int pid, string line);
}
