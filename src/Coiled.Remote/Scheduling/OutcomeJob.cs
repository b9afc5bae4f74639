using Coiled.Remote.Stubs;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>A map that records every item's outcome, value or error, and ends only when every item has ended.</summary>
internal sealed class OutcomeJob<TResult>(RemoteStub stub, int count, CancellationToken cancellationToken) : Job(stub, cancellationToken)
{
    private readonly ItemOutcome<TResult>[] _outcomes = new ItemOutcome<TResult>[count];
    private readonly TaskCompletionSource<ItemOutcome<TResult>[]> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining = count;

    public Task<ItemOutcome<TResult>[]> Completion => _completion.Task;

    public override long TotalItems { get; } = count;

    public override void OnResult(int index, ref MessagePackReader reader)
    {
        try
        {
            Settle(index, new ItemOutcome<TResult>(DeclaredResult<TResult>.Read(Stub, ref reader)));
        }
        catch (Exception ex)
        {
            Settle(index, new ItemOutcome<TResult>(UnreadableResult<TResult>(index, ex)));
        }
    }

    public override void OnFailure(int index, Exception error) => Settle(index, new ItemOutcome<TResult>(error));

    public override void Fail(Exception error) => FailWith(_completion, error);

    private void Settle(int index, ItemOutcome<TResult> outcome)
    {
        if (IsFinished)
        {
            return;
        }

        _outcomes[index] = outcome;
        if (outcome.Succeeded)
        {
            Progress?.OnDone();
        }
        else
        {
            Progress?.OnFailed();
        }

        if (Interlocked.Decrement(ref _remaining) == 0 && TryFinish())
        {
            _completion.TrySetResult(_outcomes);
            NotifyCompleted();
        }
    }
}
