using System.Net;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Security;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Worker;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Worker;

/// <summary>TLS with a per-cluster self-signed certificate that the client pins by thumbprint.</summary>
public sealed class WorkerTlsTests : IAsyncLifetime
{
    private const string Token = "tls-test-token-0123456789";
    private readonly TempDirectory _cache = new();
    private readonly ClusterCertificate _certificate = ClusterCertificate.Create("tls-test", TimeSpan.FromHours(1));
    private readonly CapturingLoggerProvider _logs = new();
    private ILoggerFactory _loggerFactory = null!;
    private WorkerHost _host = null!;

    public async Task InitializeAsync()
    {
        _loggerFactory = _logs.CreateFactory();
        _host = await WorkerHost.StartAsync(new WorkerHostOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Token = Token,
            CacheDirectory = _cache.Path,
            Certificate = _certificate.Certificate,
            LoggerFactory = _loggerFactory,
        }, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _loggerFactory.Dispose();
        _certificate.Dispose();
        _cache.Dispose();
    }

    [Fact]
    public async Task Connect_PinnedThumbprintMatches_HandshakeSucceedsOverTls()
    {
        _host.Address.Scheme.Should().Be("https");

        await using var connection = await WorkerConnection.ConnectAsync(
            new WorkerEndpoint(_host.Address) { CertificateThumbprint = _certificate.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);

        connection.Id.Should().Be(_host.WorkerId);
    }

    [Fact]
    public async Task Hello_TlsWorker_OffersNoUnencryptedUnixSocketForBulkData()
    {
        await using var connection = await WorkerConnection.ConnectAsync(
            new WorkerEndpoint(_host.Address) { CertificateThumbprint = _certificate.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);

        connection.Hello.BulkPort.Should().BeGreaterThan(0);
        connection.Hello.BulkLocalName.Should().BeEmpty();
    }

    [Fact]
    public async Task BulkChannel_OverTlsWithThePinnedCertificate_DeliversTheBlob()
    {
        await using var connection = await WorkerConnection.ConnectAsync(
            new WorkerEndpoint(_host.Address) { CertificateThumbprint = _certificate.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);
        await using var channel = new BulkChannel("127.0.0.1", connection.Hello.BulkPort, null, Token, _certificate.Thumbprint);
        var data = new byte[200_000];
        new Random(9).NextBytes(data);

        var id = await channel.SendAsync(data, CancellationToken.None);
        var payload = await _host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        payload.Data.ToArray().Should().Equal(data);
        payload.Buffer.Release();
    }

    [Fact]
    public async Task MapAsync_ThroughAPortMapping_LargeArgumentsTakeThePortTheClientReached()
    {
        using var mapping = new TcpForwarder(_host.Address.Port);
        var endpoint = new WorkerEndpoint(new Uri($"https://127.0.0.1:{mapping.Port}")) { CertificateThumbprint = _certificate.Thumbprint };
        await using var cluster = await Cluster.ConnectAsync([endpoint], Token);
        var payloads = Enumerable.Range(0, 6).Select(i => Enumerable.Repeat((byte)(i + 1), 200_000).ToArray()).ToList();

        var hashes = await cluster.MapAsync(TestJobs.Sha256, payloads).WaitAsync(TimeSpan.FromMinutes(2));

        hashes.Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p))));
        _host.Runtime.BulkArgumentBatches.Should().BeGreaterThan(0, "the 200 KB arguments took the bulk-data path");
        mapping.Connections.Should().BeGreaterThanOrEqualTo(2, "gRPC and bulk data both went through the mapped port");
        cluster.Workers.Should().ContainSingle().Which.State.Should().Be(WorkerState.Ready);
    }

    [Fact]
    public async Task Connect_ThumbprintOnAPlaintextAddress_ThrowsClusterStartExceptionSayingWhichScheme()
    {
        var act = () => WorkerConnection.ConnectAsync(
            new WorkerEndpoint(new Uri($"http://127.0.0.1:{_host.Address.Port}")) { CertificateThumbprint = _certificate.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);

        (await act.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should().Be(
            $"Worker http://127.0.0.1:{_host.Address.Port}/ has a CertificateThumbprint to pin but a plaintext address: use https://127.0.0.1:{_host.Address.Port} for a worker started with --cert, or no thumbprint for one without.");
    }

    [Fact]
    public async Task Connect_PinnedThumbprintDiffers_FailsBeforeAnyCallReachesTheWorker()
    {
        using var other = ClusterCertificate.Create("someone-else", TimeSpan.FromHours(1));
        await using (await WorkerConnection.ConnectAsync(new WorkerEndpoint(_host.Address) { CertificateThumbprint = _certificate.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None))
        {
            Requests().Should().ContainSingle("the worker sees the handshake of a client that pins its certificate: /Hello");
        }

        var act = () => WorkerConnection.ConnectAsync(
            new WorkerEndpoint(_host.Address) { CertificateThumbprint = other.Thumbprint }, Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);

        (await act.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("SSL");
        Requests().Should().ContainSingle("a client that pins another certificate ends the TLS handshake before sending any request");
        _host.Runtime.Activity.ConnectedClients.Should().Be(0);
    }

    /// <summary>The requests the worker's HTTP server began, as it logs them.</summary>
    private List<LogEntry> Requests() => [.. _logs.Entries.Where(e => e.Category == "Microsoft.AspNetCore.Hosting.Diagnostics" && e.Message.StartsWith("Request starting ", StringComparison.Ordinal))];

    [Fact]
    public async Task Connect_HttpsWithoutThumbprint_ThrowsClusterStartException()
    {
        var act = () => WorkerConnection.ConnectAsync(new WorkerEndpoint(_host.Address), Token, ClusterOptions.DefaultWorkerTimeout, TimeProvider.System, CancellationToken.None);

        (await act.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should().Contain("has no CertificateThumbprint to pin");
    }
}
