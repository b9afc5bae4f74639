namespace Coiled.Remote;

/// <summary>
/// How far one <c>MapAsync</c>, <c>MapOutcomesAsync</c> or <c>MapStreamAsync</c> call has come, reported to the
/// <see cref="IProgress{T}"/> passed to it: at most about ten times a second, and once more when the call ends.
/// </summary>
/// <param name="Done">Items that returned a result.</param>
/// <param name="Failed">Items that ended with an error.</param>
/// <param name="Total">Items in the call; -1 while a stream's source has not ended, so the total is not known yet.</param>
/// <param name="ItemsPerSecond">Items ended (done or failed) per second since the call started.</param>
/// <param name="EstimatedRemaining">Time left at the current rate; null while the total or the rate is unknown.</param>
public sealed record MapProgress(long Done, long Failed, long Total, double ItemsPerSecond, TimeSpan? EstimatedRemaining)
{
    /// <summary>Items that ended, done or failed.</summary>
    public long Completed => Done + Failed;

    /// <summary>The part of the call that ended, from 0 to 1; null while <see cref="Total"/> is unknown.</summary>
    public double? Fraction => Total switch
    {
        < 0 => null,
        0 => 1,
        _ => (double)Completed / Total,
    };
}
