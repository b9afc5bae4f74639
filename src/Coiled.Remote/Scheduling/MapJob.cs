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

    public override void OnResult(int index, ref MessagePackReader reader)
    {
        if (IsFinished)
        {
            return;
        }

        try
        {
            _results[index] = FormatterOf<TResult>.Read(ref reader);
        }
        catch (Exception ex)
        {
            OnFailure(index, new RemoteException(
                Stub.DisplayName, ex.GetType().FullName ?? ex.GetType().Name,
                $"The result of item {index} could not be read as {typeof(TResult)}: {ex.GetBaseException().Message}",
                ex.StackTrace ?? string.Empty, "(caller)", index));
            return;
        }

        Progress?.OnDone();
        if (Interlocked.Decrement(ref _remaining) == 0 && TryFinish())
        {
            _completion.TrySetResult(_results);
            NotifyFinished();
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

    public override void Fail(Exception error)
    {
        if (TryFinish())
        {
            if (error is OperationCanceledException cancelled)
            {
                _completion.TrySetCanceled(cancelled.CancellationToken);
            }
            else
            {
                _completion.TrySetException(error);
            }

            NotifyFinished();
        }
    }
}
