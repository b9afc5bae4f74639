using Coiled.Remote.Scaling;
using Coiled.Remote.Scheduling;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>Adaptive scaling: the cluster grows with queued work and retires idle workers, on its own.</summary>
public sealed partial class Cluster
{
    /// <summary>How often an adapting cluster looks at its work.</summary>
    internal static readonly TimeSpan AdaptInterval = TimeSpan.FromSeconds(1);

    private readonly object _adaptGate = new();
    private CancellationTokenSource? _adapting;
    private Task _adaptLoop = Task.CompletedTask;

    /// <summary>
    /// Lets the cluster size itself: it grows toward <paramref name="maximum"/> workers while tasks wait that no
    /// worker's slots can take, and retires workers idle for <paramref name="scaleDownAfter"/> down to
    /// <paramref name="minimum"/>, as <see cref="ScaleAsync"/> does. It looks once a second, and never retires sooner
    /// than <paramref name="scaleDownAfter"/> after it grew. Calling it again replaces the bounds; it lasts until the
    /// cluster is disposed. Each change is logged with its reason.
    /// </summary>
    /// <param name="minimum">Fewest workers, at least 1.</param>
    /// <param name="maximum">Most workers, at least <paramref name="minimum"/>.</param>
    /// <param name="scaleDownAfter">How long a worker is idle before it retires; default 60 s.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is out of range, or <paramref name="scaleDownAfter"/> is not positive.</exception>
    /// <exception cref="NotSupportedException">The cluster was made with <see cref="ConnectAsync(IEnumerable{Uri}, string, ClusterOptions?, CancellationToken)"/>.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void Adapt(int minimum, int maximum, TimeSpan? scaleDownAfter = null)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ThrowIfConnected();
        var policy = new AdaptPolicy(minimum, maximum, scaleDownAfter ?? TimeSpan.FromSeconds(60));
        lock (_adaptGate)
        {
            _adapting?.Cancel();
            _adapting = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
            var previous = _adaptLoop;
            var token = _adapting.Token;
            _adaptLoop = Task.Run(async () =>
            {
                await previous.ConfigureAwait(false);
                await AdaptLoopAsync(policy, token).ConfigureAwait(false);
            });
        }

        _logger.Adapting(minimum, maximum, policy.ScaleDownAfter.TotalSeconds);
    }

    /// <summary>Stops adapting and waits for a change under way to end (disposal).</summary>
    private async Task StopAdaptingAsync()
    {
        Task loop;
        lock (_adaptGate)
        {
            _adapting?.Cancel();
            loop = _adaptLoop;
        }

        await loop.ConfigureAwait(false);
    }

    private async Task AdaptLoopAsync(AdaptPolicy policy, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(AdaptInterval, _options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                // One change at a time, decided on what the cluster holds now: a look while ScaleAsync (or a change of
                // its own) is under way is skipped.
                if (!await _scaling.WaitAsync(0, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                try
                {
                    var active = ActiveConnections();
                    var workers = active
                        .Select(c => new AdaptPolicy.Worker(c.Id, c.Slots, _scheduler.InFlightOn(c)))
                        .Where(w => w.InFlight >= 0)
                        .ToList();
                    if (policy.Decide(_options.TimeProvider.GetUtcNow(), workers, _scheduler.Counts().Queued) is { } decision)
                    {
                        await ApplyAsync(decision, active, policy, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _scaling.Release();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Adapt was called again, or the cluster is being disposed.
        }
    }

    private async Task ApplyAsync(AdaptPolicy.Decision decision, List<WorkerConnection> active, AdaptPolicy policy, CancellationToken cancellationToken)
    {
        var reason = $"{decision.Reason} (adapting between {policy.Minimum} and {policy.Maximum})";
        try
        {
            _logger.Scaling(active.Count, decision.Target, reason);
            if (decision.Retire.Count > 0)
            {
                var retiring = active.Where(c => decision.Retire.Contains(c.Id)).ToList();
                await RetireAsync(retiring, "the cluster adapted: " + decision.Reason, cancellationToken).ConfigureAwait(false);
            }
            else if (decision.Target > active.Count)
            {
                await AddWorkersAsync(decision.Target - active.Count, cancellationToken).ConfigureAwait(false);

                // Idle time before retiring counts from when the new workers came (an EC2 boot takes a minute).
                policy.Grown(_options.TimeProvider.GetUtcNow());
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The cluster goes on with what it has, and looks again in a second.
            _logger.AdaptFailed(ex, active.Count, decision.Target, ex.GetBaseException().Message);
        }
    }
}
