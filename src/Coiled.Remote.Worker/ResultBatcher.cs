using System.Buffers;
using System.Threading.Channels;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker;

/// <summary>
/// Gathers a <see cref="TaskExecutor"/>'s outcomes into result batches as they come, up to 8,192 outcomes or 1 MiB of
/// results each; a large result goes alone, straight from the buffer it was serialized into.
/// </summary>
/// <param name="executor">Whose outcomes to send; told how many were taken, before they are sent.</param>
internal sealed class ResultBatcher(TaskExecutor executor)
{
    /// <summary>The executor's outcomes; a single reader's channel, which can peek but not count.</summary>
    private readonly ChannelReader<TaskOutcome> _outcomes = executor.Outcomes;

    private const int MaxResultsPerBatch = 8192;
    private const int ResultBatchTargetBytes = 1024 * 1024;

    private volatile bool _sending;
    private TaskCompletionSource? _drained;

    /// <summary>
    /// Sends batches until the executor has no more outcomes. <paramref name="send"/> gets each batch without its
    /// results and the results' bytes, which stay valid until it returns.
    /// </summary>
    public async Task PumpAsync(Func<ResultBatch, ReadOnlyMemory<byte>, ValueTask> send)
    {
        var results = new GrowableBuffer(64 * 1024);
        while (await _outcomes.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            _sending = true;
            var batch = new ResultBatch();
            ulong elapsed = 0;
            var count = 0;
            TaskOutcome? alone = null;
            while (count < MaxResultsPerBatch && results.WrittenCount < ResultBatchTargetBytes && _outcomes.TryRead(out var outcome))
            {
                count++;
                elapsed += (ulong)outcome.ElapsedNanoseconds;
                if (outcome.Failure is { } failure)
                {
                    batch.Failures.Add(failure);
                }
                else if (outcome.Lease is not null && results.WrittenCount == 0)
                {
                    batch.TaskIds.Add(outcome.TaskId);
                    alone = outcome;
                    break;
                }
                else
                {
                    batch.TaskIds.Add(outcome.TaskId);
                    results.Write(outcome.Result.Span);
                    outcome.Lease?.Release();
                }
            }

            // Taken, not sent: the client may already have the results of a batch whose sending has not returned yet,
            // and send new tasks in their place.
            executor.OutcomesTaken(count);
            try
            {
                batch.ExecutionNanoseconds = elapsed;
                await send(batch, alone?.Result ?? results.WrittenMemory).ConfigureAwait(false);
            }
            finally
            {
                results.ResetWrittenCount();
                alone?.Lease?.Release();
                _sending = false;
                if (!_outcomes.TryPeek(out _))
                {
                    Volatile.Read(ref _drained)?.TrySetResult();
                }
            }
        }

        Volatile.Read(ref _drained)?.TrySetResult();
    }

    /// <summary>Completes once every outcome reported so far was sent (or the pump ended).</summary>
    public Task WhenDrainedAsync()
    {
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        if (!_sending && !_outcomes.TryPeek(out _))
        {
            drained.TrySetResult();
        }

        return drained.Task;
    }
}
