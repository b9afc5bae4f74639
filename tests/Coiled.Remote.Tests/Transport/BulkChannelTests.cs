using System.Net;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Transport;

/// <summary>The client's bulk-data connection when the worker ends it.</summary>
public sealed class BulkChannelTests : IAsyncLifetime
{
    private const string Token = "bulk-channel-token-0123456789";
    private readonly TempDirectory _cache = new();
    private WorkerHost _host = null!;

    public async Task InitializeAsync()
        => _host = await WorkerHost.StartAsync(new WorkerHostOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Token = Token,
            CacheDirectory = _cache.Path,
            MaxResultBytes = 1000,
        }, CancellationToken.None);

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _cache.Dispose();
    }

    [Fact]
    public async Task SendAsync_AfterTheWorkerClosedTheConnection_OpensANewOneAndTheBlobArrives()
    {
        await using var channel = new BulkChannel("127.0.0.1", _host.Runtime.BulkPort, _host.Runtime.BulkLocalName, Token, certificateThumbprint: null);
        try
        {
            // Over the worker's limit: it closes the connection, possibly while the blob is still being written.
            await channel.SendAsync(new byte[2000], CancellationToken.None);
        }
        catch (IOException)
        {
            // The worker closed it before the whole blob was written.
        }

        // The client sees the end: a wait for a result blob that has not arrived fails at once.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var noticed = false;
        while (!noticed && DateTime.UtcNow < deadline)
        {
            try
            {
                using var brief = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
                await channel.Results.TakeAsync(999, brief.Token);
            }
            catch (IOException)
            {
                noticed = true;
            }
            catch (OperationCanceledException)
            {
            }
        }

        noticed.Should().BeTrue("the worker closed the connection after the oversize blob");
        var id = await channel.SendAsync(new byte[] { 1, 2, 3 }, CancellationToken.None);
        var payload = await _host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        payload.Data.ToArray().Should().Equal(1, 2, 3);
        payload.Buffer.Release();
    }
}
