using System.Buffers;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>A scheduler on a fake clock, with what a test needs to play its workers: submit items, take batches, answer them.</summary>
internal sealed class SchedulerDriver
{
    public SchedulerDriver(int maxWorkerDeaths = 3, bool replacesWorkers = true, bool dashboard = false)
    {
        Dashboard = dashboard ? new Coiled.Remote.Dashboard.DashboardRecorder(Time) : null;
        Scheduler = new Scheduler(
            maxWorkerDeaths, "test", Time, NullLogger.Instance,
            workerLost: replacesWorkers ? (worker, how) => { Lost.Add($"{worker.Id} {how}"); return Task.CompletedTask; } : null,
            dashboard: Dashboard);
    }

    /// <summary>What the scheduler tells the dashboard; null unless asked for.</summary>
    public Coiled.Remote.Dashboard.DashboardRecorder? Dashboard { get; }

    public FakeTimeProvider Time { get; } = new();

    public Scheduler Scheduler { get; }

    /// <summary>The workers the scheduler reported lost, with how.</summary>
    public List<string> Lost { get; } = [];

    public FakeTaskWorker AddWorker(string id, int slots)
    {
        var worker = new FakeTaskWorker(id, slots);
        Scheduler.AddWorker(worker);
        return worker;
    }

    /// <summary>Submits a map of <paramref name="count"/> items of one byte of arguments each.</summary>
    public MapJob<int> Submit(int count, int retries = 0, CancellationToken cancellationToken = default)
    {
        var job = new MapJob<int>(new TestStub(retries), count, cancellationToken);
        var arguments = new byte[count];
        var ends = Enumerable.Range(1, count).ToArray();
        Scheduler.Submit(job, [new ArgumentChunk(0, arguments, ends, count)]);
        return job;
    }

    /// <summary>The item indexes of the next batch <paramref name="worker"/> gets; null when it gets none.</summary>
    public int[]? Take(ITaskWorker worker)
        => Scheduler.TakeRequest(worker) is { Request.Tasks: { } tasks } ? [.. tasks.TaskIds.Select(TaskIds.IndexOf)] : null;

    /// <summary>Answers items of <paramref name="job"/> with their squares.</summary>
    public void Succeed(ITaskWorker worker, Job job, params int[] indexes) => SucceedAfter(worker, job, TimeSpan.Zero, indexes);

    /// <summary>Answers items of <paramref name="job"/> with their squares, as having run for <paramref name="execution"/> in all.</summary>
    public void SucceedAfter(ITaskWorker worker, Job job, TimeSpan execution, params int[] indexes)
    {
        var batch = new ResultBatch { ExecutionNanoseconds = (ulong)(execution.Ticks * 100) };
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        foreach (var index in indexes)
        {
            batch.TaskIds.Add(TaskIds.Of(job.Id, index));
            writer.Write(index * index);
        }

        writer.Flush();
        batch.Results = Google.Protobuf.ByteString.CopyFrom(buffer.WrittenSpan);
        Scheduler.OnResults(worker, batch);
    }

    /// <summary>Reports items of <paramref name="job"/> as failed with <paramref name="kind"/>.</summary>
    public void Fail(ITaskWorker worker, Job job, FailureKind kind, params int[] indexes)
    {
        var batch = new ResultBatch();
        foreach (var index in indexes)
        {
            batch.Failures.Add(new TaskFailure { TaskId = TaskIds.Of(job.Id, index), Kind = kind, ExceptionType = "System.InvalidOperationException", Message = $"item {index} threw" });
        }

        Scheduler.OnResults(worker, batch);
    }
}
