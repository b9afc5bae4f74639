using Amazon.EC2.Model;
using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Ec2.Tests.Launch;

/// <summary>The boot watcher against the local EC2 endpoint, on a fake clock: probes of one round run at once.</summary>
public sealed class BootWatcherTests
{
    [LocalS3Fact]
    public async Task WatchAsync_ThreeRunningInstancesWhosePortsDoNotAnswer_ProbesThemAtOnceAndARoundTakesOneProbeTimeout()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.BootInstances = false;
        ec2.NotFoundRightAfterLaunch = false;
        ec2.PageSize = 100;
        var (client, _, _) = await Ec2ClientFactory.CreateAsync(ec2.Options(), CancellationToken.None);
        using var _client = client;
        var ids = await LaunchThreeRunningAsync(ec2, client);

        var probes = 0;
        var firstRound = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondRound = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new PollSignallingTimeProvider(TimeSpan.FromSeconds(3));
        var tuning = TestTuning.Fast() with
        {
            ProbeTimeout = TimeSpan.FromSeconds(2),
            PollInterval = TimeSpan.FromSeconds(3),
            BootTimeout = TimeSpan.FromMinutes(10),
            ProbeWorker = async (_, _, cancellationToken) =>
            {
                // A port that swallows connection attempts: the probe ends only when its timeout cancels it.
                switch (Interlocked.Increment(ref probes))
                {
                    case 3: firstRound.TrySetResult(); break;
                    case 6: secondRound.TrySetResult(); break;
                }

                await Task.Delay(Timeout.Infinite, cancellationToken);
            },
        };
        var watcher = new BootWatcher(client, "coiled-remote-test", 7400, tuning, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var started = time.GetUtcNow();
        var watching = Task.Run(async () =>
        {
            await foreach (var _ in watcher.WatchAsync(ids, 3, stop.Token))
            {
            }
        });

        await firstRound.Task.WaitAsync(TimeSpan.FromMinutes(1));
        Volatile.Read(ref probes).Should().Be(3, "every running instance is probed at once, before any time passes");

        // One probe timeout ends the round for all three; the watcher then waits one poll interval and probes again.
        time.Advance(tuning.ProbeTimeout);
        await time.PollWaitStarted.WaitAsync(TimeSpan.FromMinutes(1));
        Volatile.Read(ref probes).Should().Be(3);
        time.Advance(tuning.PollInterval);
        await secondRound.Task.WaitAsync(TimeSpan.FromMinutes(1));

        (time.GetUtcNow() - started).Should().Be(tuning.ProbeTimeout + tuning.PollInterval, "one round takes one probe timeout, not one per instance");
        await stop.CancelAsync();
        await watching.Awaiting(w => w.WaitAsync(TimeSpan.FromMinutes(1))).Should().ThrowAsync<OperationCanceledException>();
    }

    [LocalS3Fact]
    public async Task WatchAsync_DescribeAnswersInPagesAndOnlyTheLastPagesInstanceAnswers_YieldsIt()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.BootInstances = false;
        ec2.PageSize = 2;
        var (client, _, _) = await Ec2ClientFactory.CreateAsync(ec2.Options(), CancellationToken.None);
        using var _client = client;
        var ids = await LaunchThreeRunningAsync(ec2, client);

        // Only the instance that DescribeInstances lists last, on its second page, has a worker that answers.
        var answering = ec2.Instances.Single(i => i.Id == ids[^1]).SandboxAddress;
        var tuning = TestTuning.Fast() with
        {
            ProbeWorker = (address, _, _) => address == answering ? Task.CompletedTask : throw new System.Net.Sockets.SocketException(111),
        };
        var watcher = new BootWatcher(client, "coiled-remote-test", 7400, tuning, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));

        await using var watching = watcher.WatchAsync(ids, 1, stop.Token).GetAsyncEnumerator(stop.Token);

        (await watching.MoveNextAsync()).Should().BeTrue();
        watching.Current.InstanceId.Should().Be(ids[^1], "the instances of every page of the answer are watched");
    }

    /// <summary>Fake time that says when the watcher started waiting between two rounds (a timer of the poll interval).</summary>
    private sealed class PollSignallingTimeProvider(TimeSpan pollInterval) : FakeTimeProvider
    {
        private readonly TaskCompletionSource _pollWaitStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task PollWaitStarted => _pollWaitStarted.Task;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            if (dueTime == pollInterval)
            {
                _pollWaitStarted.TrySetResult();
            }

            return timer;
        }
    }

    /// <summary>Launches three instances straight through EC2 and waits until the endpoint runs them; returns their ids in launch order.</summary>
    private static async Task<List<string>> LaunchThreeRunningAsync(LocalEc2Endpoint ec2, Amazon.EC2.IAmazonEC2 client)
    {
        var launched = await client.RunInstancesAsync(new RunInstancesRequest { ImageId = "ami-0x86new", InstanceType = "c7i.large", MinCount = 3, MaxCount = 3 });
        using (var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            while (ec2.Instances.Any(i => i.State != "running"))
            {
                await Task.Delay(20, safety.Token);
            }
        }

        return [.. launched.Reservation.Instances.Select(i => i.InstanceId)];
    }
}
