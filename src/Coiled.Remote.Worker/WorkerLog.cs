using System.Net;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

// Event ids by area: worker daemon 1000-1099 (this file), executors 1100-1199 (Executors/ExecutorLog.cs),
// EC2 2000-2999, synchronization 3000-3099, backends 3100-3199, scheduler 4000-4099, cluster 4100-4199.

/// <summary>The worker daemon's log lines: its gRPC service, its listeners and the refusals it counts (event ids 1000-1099).</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Worker {WorkerId} asked to shut down: {Reason}")]
    public static partial void ShutdownRequested(this ILogger logger, string workerId, string reason);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Worker {WorkerId} opened environment {EnvironmentId} in executor {Pid} for a direct route")]
    public static partial void EnvironmentOpenedForDirectRoute(this ILogger logger, string workerId, string environmentId, int pid);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Worker {WorkerId} opened environment {EnvironmentId}")]
    public static partial void EnvironmentOpened(this ILogger logger, string workerId, string environmentId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Worker {WorkerId} opened environment {EnvironmentId} in executor {Pid}")]
    public static partial void EnvironmentOpenedInExecutor(this ILogger logger, string workerId, string environmentId, int pid);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Worker {WorkerId}: {Message}")]
    public static partial void ExecutorEndedUnasked(this ILogger logger, string workerId, string message);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Debug, Message = "Worker {WorkerId} sends {Bytes} bytes of results in the task stream: the bulk-data connection failed ({Reason})")]
    public static partial void ResultsInTaskStream(this ILogger logger, string workerId, int bytes, string reason);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "The worker refused {Count} {What} from {Address} since it last said so (at most once a minute per address): {Why}")]
    public static partial void Refused(this ILogger logger, int count, string what, string address, string why);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "The worker could not accept {What}: {Reason}")]
    public static partial void AcceptFailed(this ILogger logger, string what, string reason);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Debug, Message = "The worker closed a connection from {Remote}: {Count} connections are already waiting to say what they are")]
    public static partial void TooManyRouting(this ILogger logger, EndPoint? remote, int count);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Debug, Message = "The worker closed a connection from {Remote}: {Count} connections from there are already waiting to say what they are")]
    public static partial void TooManyRoutingFromAddress(this ILogger logger, EndPoint? remote, int count);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Debug, Message = "The worker closed a connection from {Remote}: it asked for a direct route without a valid ticket")]
    public static partial void DirectRouteWithoutTicket(this ILogger logger, EndPoint? remote);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Debug, Message = "Worker {WorkerId} offers bulk data over TCP only: no abstract Unix socket ({Reason})")]
    public static partial void BulkOverTcpOnly(this ILogger logger, string workerId, string reason);

    [LoggerMessage(EventId = 1031, Level = LogLevel.Debug, Message = "Worker {WorkerId} closed a connection from {Remote}: it does not open with the bulk-data preamble")]
    public static partial void BulkPreambleMissing(this ILogger logger, string workerId, EndPoint? remote);

    [LoggerMessage(EventId = 1032, Level = LogLevel.Debug, Message = "Worker {WorkerId} closed a bulk-data connection from {Remote}: {Reason}")]
    public static partial void BulkConnectionClosed(this ILogger logger, string workerId, EndPoint? remote, string reason);

    [LoggerMessage(EventId = 1033, Level = LogLevel.Debug, Message = "Worker {WorkerId} closed a bulk-data connection from {Remote}: no token within {Seconds:0} s")]
    public static partial void BulkTokenMissing(this ILogger logger, string workerId, EndPoint? remote, double seconds);

    [LoggerMessage(EventId = 1034, Level = LogLevel.Debug, Message = "Worker {WorkerId} said goodbye on a bulk-data connection idle for {Seconds:0} s")]
    public static partial void BulkIdleGoodbye(this ILogger logger, string workerId, double seconds);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Warning, Message = "Worker {WorkerId}: the machine's cloud announced it will {Action} it at {Time}; the worker opens no new task stream and its client moves its tasks elsewhere")]
    public static partial void MachineInterrupted(this ILogger logger, string workerId, string action, string time);

    [LoggerMessage(EventId = 1041, Level = LogLevel.Warning, Message = "Worker {WorkerId}: the machine's cloud recommends moving work off it (rebalance recommendation of {Time}); the worker goes on")]
    public static partial void RebalanceRecommended(this ILogger logger, string workerId, string time);

    [LoggerMessage(EventId = 1042, Level = LogLevel.Warning, Message = "Worker {WorkerId} cannot read the instance metadata ({Error}); it tries again every {Seconds:0.#} s, and would miss a spot interruption notice meanwhile. Check --instance-metadata")]
    public static partial void InstanceMetadataUnreachable(this ILogger logger, string workerId, string error, double seconds);

    [LoggerMessage(EventId = 1043, Level = LogLevel.Information, Message = "Worker {WorkerId} reads the instance metadata again")]
    public static partial void InstanceMetadataReachable(this ILogger logger, string workerId);
}
