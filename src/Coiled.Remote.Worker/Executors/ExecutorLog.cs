using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

// Event ids by area: worker daemon 1000-1099 (WorkerLog.cs), executors 1100-1199 (this file),
// EC2 2000-2999, synchronization 3000-3099, backends 3100-3199, scheduler 4000-4099, cluster 4100-4199.

/// <summary>The log lines of the executor processes the worker daemon starts, binds and ends (event ids 1100-1199).</summary>
internal static partial class ExecutorLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Debug, Message = "A direct route's ticket expired unused; its executor (process {Pid}) is no longer held for it")]
    public static partial void TicketExpired(this ILogger logger, int pid);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Debug, Message = "The executors' folder {Folder} could not be deleted: {Reason}")]
    public static partial void ExecutorsFolderNotDeleted(this ILogger logger, string folder, string reason);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Debug, Message = "The spare executor failed to start ({Reason}); starting one for environment {EnvironmentId}")]
    public static partial void SpareFailedToStart(this ILogger logger, string reason, string environmentId);

    [LoggerMessage(EventId = 1112, Level = LogLevel.Information, Message = "Executor {Pid} for environment {EnvironmentId} {How} in {Ms:0} ms")]
    public static partial void ExecutorReady(this ILogger logger, int pid, string environmentId, string how, double ms);

    [LoggerMessage(EventId = 1113, Level = LogLevel.Warning, Message = "Executor {Pid} of environment {EnvironmentId} ended: {How}")]
    public static partial void ExecutorEnded(this ILogger logger, int pid, string environmentId, string how);

    [LoggerMessage(EventId = 1114, Level = LogLevel.Information, Message = "Executor {Pid} of environment {EnvironmentId} ends: no client for {Seconds:0.#} s")]
    public static partial void ExecutorIdle(this ILogger logger, int pid, string environmentId, double seconds);

    [LoggerMessage(EventId = 1116, Level = LogLevel.Information, Message = "Executor {Pid} of environment {EnvironmentId} ends: a new build of its application ({NewEnvironmentId}) took over and no client uses it")]
    public static partial void ExecutorSuperseded(this ILogger logger, int pid, string environmentId, string newEnvironmentId);

    [LoggerMessage(EventId = 1115, Level = LogLevel.Debug, Message = "The leftover executor folder {Folder} could not be deleted: {Reason}")]
    public static partial void LeftoverFolderNotDeleted(this ILogger logger, string folder, string reason);

    [LoggerMessage(EventId = 1120, Level = LogLevel.Debug, Message = "Spare executor {Pid} could not be bound to environment {EnvironmentId}: {Reason}")]
    public static partial void SpareNotBound(this ILogger logger, int pid, string environmentId, string reason);

    [LoggerMessage(EventId = 1121, Level = LogLevel.Debug, Message = "The folder {Folder} of an ended executor could not be deleted: {Reason}")]
    public static partial void EndedExecutorFolderNotDeleted(this ILogger logger, string folder, string reason);
}
