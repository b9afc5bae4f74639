using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Large arguments and results travel on the worker's bulk-data connection, beside the task stream. The worker runs in
/// this process (a synchronized environment, as a daemon's), reached with ConnectAsync, so that the test can count the
/// batches it received and sent that way.
/// </summary>
public sealed class BulkPathTests : IAsyncLifetime
{
    private const string Token = "bulk-path-token-0123456789";
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);
    private TestWorker _worker = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _worker = await TestWorker.StartAsync(Token);
        _cluster = await Cluster.ConnectAsync([_worker.Host.Address], Token);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _worker.DisposeAsync();
    }

    [Fact]
    public async Task SubmitAsync_HundredMegabyteArgument_ArrivesByteForByteOverTheBulkPath()
    {
        var data = new byte[100 * 1024 * 1024];
        new Random(7).NextBytes(data);
        (await _cluster.SubmitAsync(TestJobs.Sha256, new byte[] { 1, 2, 3 }).WaitAsync(Safety)).Should().Be(Convert.ToHexStringLower(SHA256.HashData([1, 2, 3])));
        _worker.Host.Runtime.BulkArgumentBatches.Should().Be(0, "three bytes travel in the task stream");

        var remote = await _cluster.SubmitAsync(TestJobs.Sha256, data).WaitAsync(Safety);

        remote.Should().Be(Convert.ToHexStringLower(SHA256.HashData(data)));
        _worker.Host.Runtime.BulkArgumentBatches.Should().Be(1, "the 100 MiB argument came on the bulk-data connection");
        _worker.Host.Runtime.BulkResultBatches.Should().Be(0, "a hash is a small result");
    }

    [Fact]
    public async Task SubmitAsync_HundredMegabyteResult_ComesBackByteForByteOverTheBulkPath()
    {
        (await _cluster.SubmitAsync(TestJobs.RandomBytes, 3, 5).WaitAsync(Safety)).Should().HaveCount(3);
        _worker.Host.Runtime.BulkResultBatches.Should().Be(0, "three bytes travel in the task stream");

        var remote = await _cluster.SubmitAsync(TestJobs.RandomBytes, 100 * 1024 * 1024, 5).WaitAsync(Safety);

        var expected = new byte[100 * 1024 * 1024];
        new Random(5).NextBytes(expected);
        remote.AsSpan().SequenceEqual(expected).Should().BeTrue("the 100 MiB result must arrive byte for byte");
        _worker.Host.Runtime.BulkResultBatches.Should().Be(1, "the 100 MiB result went back on the bulk-data connection");
        _worker.Host.Runtime.BulkArgumentBatches.Should().Be(0, "two integers are small arguments");
    }
}
