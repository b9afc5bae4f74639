using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker.Cloud;

/// <summary>
/// What the worker's cloud said about its machine (<see cref="MachineNoticePoller"/>): that it will be reclaimed, or
/// that work should move off it. Each notice is kept from the first time it was seen; <see cref="Changed"/> tells the
/// worker's heartbeat streams to report it at once.
/// </summary>
internal sealed class MachineNotices
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private MachineNotice? _interruption;
    private MachineNotice? _rebalance;

    /// <summary>The machine will be reclaimed (an EC2 spot interruption notice); null until announced.</summary>
    public MachineNotice? Interruption
    {
        get
        {
            lock (_lock)
            {
                return _interruption;
            }
        }
    }

    /// <summary>Work should move off the machine (an EC2 rebalance recommendation); null until recommended.</summary>
    public MachineNotice? Rebalance
    {
        get
        {
            lock (_lock)
            {
                return _rebalance;
            }
        }
    }

    /// <summary>Completes at the next new notice.</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>Records an interruption notice; false when one was recorded already (the first is kept).</summary>
    public bool Interrupt(MachineNotice notice) => Record(ref _interruption, notice);

    /// <summary>Records a rebalance recommendation; false when one was recorded already (the first is kept).</summary>
    public bool RecommendRebalance(MachineNotice notice) => Record(ref _rebalance, notice);

    /// <summary>Puts the notices recorded so far on a heartbeat.</summary>
    public WorkerStats AddTo(WorkerStats stats)
    {
        lock (_lock)
        {
            stats.Interruption = _interruption;
            stats.Rebalance = _rebalance;
        }

        return stats;
    }

    private bool Record(ref MachineNotice? field, MachineNotice notice)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (field is not null)
            {
                return false;
            }

            field = notice;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        return true;
    }
}
