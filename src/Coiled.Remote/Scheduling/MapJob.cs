using MessagePack;
using Coiled.Remote.Stubs;

namespace Coiled.Remote.Scheduling;

/// <summary>A map (or a single submit) whose results fill an array in input order; the first failure ends it.</summary>
internal sealed class MapJob<TResult>(RemoteStub stub, int count, CancellationToken cancellationToken) : Job(stub, cancellationToken)
{
    private readonly TResult[] _results = new TResult[count];
    private readonly TaskCompletionSource<TResult[]> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining = count;

    public Task<TResult[]> Completion => _completion.Task;

    public override long TotalItems { get; } = count;

    public override void OnResult(int index, ref MessagePackReader reader)
    {
        if (IsFinished)
        {
            return;
        }

        try
        {
            _results[index] = DeclaredResult<TResult>.Read(Stub, ref reader);
        }
        catch (Exception ex)
        {
            OnFailure(index, UnreadableResult<TResult>(index, ex));
            return;
        }

        Progress?.OnDone();
        if (Interlocked.Decrement(ref _remaining) == 0 && TryFinish())
        {
            _completion.TrySetResult(_results);
            NotifyCompleted();
        }
    }

    public override void OnFailure(int index, Exception error)
    {
        if (!IsFinished)
        {
            Progress?.OnFailed();
        }

        Fail(error);
    }

    public override void Fail(Exception error) => FailWith(_completion, error);
}
