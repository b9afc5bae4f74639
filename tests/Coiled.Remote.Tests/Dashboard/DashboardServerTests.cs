using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>The dashboard a cluster serves: where it listens, what it answers, and to whom.</summary>
public sealed class DashboardServerTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task StartAsync_Default_ServesThePageAndSnapshotsOnLoopback_AndLogsTheUri()
    {
        using var logs = new CapturingLoggerProvider();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend(), LoggerFactory = logs.CreateFactory() });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        cluster.DashboardUri.Should().NotBeNull();
        cluster.DashboardUri!.Host.Should().Be("127.0.0.1");
        cluster.DashboardUri.AbsolutePath.Should().Be("/");
        cluster.DashboardUri.Query.Should().BeEmpty("on loopback the page asks for no token");
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message == $"Dashboard at {cluster.DashboardUri}");

        var page = await http.GetAsync(cluster.DashboardUri);
        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        page.Headers.GetValues("Content-Security-Policy").Single().Should().StartWith("default-src 'none'");
        var html = await page.Content.ReadAsStringAsync();
        html.Should().Contain("<script src=\"dashboard.js\"").And.NotContain("http://").And.NotContain("https://", "the page loads nothing from elsewhere");
        (await http.GetStringAsync(new Uri(cluster.DashboardUri, "dashboard.js"))).Should().Contain("api/snapshot").And.NotContain("https://");
        (await http.GetAsync(new Uri(cluster.DashboardUri, "missing.txt"))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.PostAsync(new Uri(cluster.DashboardUri, "api/snapshot"), null)).StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);

        using var snapshot = JsonDocument.Parse(await http.GetStringAsync(new Uri(cluster.DashboardUri, "api/snapshot")));
        snapshot.RootElement.GetProperty("state").GetString().Should().Be("running");
        snapshot.RootElement.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("id").GetString())
            .Should().BeEquivalentTo(cluster.Workers.Select(w => w.Id));
    }

    [Fact]
    public async Task Snapshot_AfterAMapWithAFailure_ShowsItsProgressAtItsTotal_TheWorkersTasks_AndTheError()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        var outcomes = await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 20).Select(i => (double)i)).WaitAsync(Safety);
        outcomes.Count(o => !o.Succeeded).Should().Be(1);
        var idleBefore = cluster.Summary.IdleShare;
        using var snapshot = JsonDocument.Parse(await http.GetStringAsync(new Uri(cluster.DashboardUri!, "api/snapshot")));
        var idleAfter = cluster.Summary.IdleShare;

        var call = snapshot.RootElement.GetProperty("calls").EnumerateArray().Should().ContainSingle().Subject;
        call.GetProperty("method").GetString().Should().Contain("FailOnSeven");
        (call.GetProperty("done").GetInt64(), call.GetProperty("failed").GetInt64(), call.GetProperty("total").GetInt64()).Should().Be((19L, 1L, 20L));
        call.GetProperty("outcome").GetString().Should().Be("completed");
        snapshot.RootElement.GetProperty("workers").EnumerateArray().Sum(w => w.GetProperty("done").GetInt64()).Should().Be(20);
        var error = snapshot.RootElement.GetProperty("errors").EnumerateArray().Should().ContainSingle().Subject;
        error.GetProperty("type").GetString().Should().Be("System.InvalidOperationException");
        error.GetProperty("message").GetString().Should().Be("seven is not allowed (7)");
        error.GetProperty("item").GetInt32().Should().Be(7);
        cluster.Workers.Select(w => w.Id).Should().Contain(error.GetProperty("worker").GetString());
        snapshot.RootElement.GetProperty("bars").EnumerateArray().Should().Contain(b => b.GetProperty("failed").GetBoolean());
        var cost = snapshot.RootElement.GetProperty("cost");
        cost.GetProperty("idleShare").GetDouble().Should().BeInRange(idleBefore - 1e-9, idleAfter + 1e-9, "the workers only idle once the map ended, so the share only grows");
        cost.GetProperty("dollars").GetDecimal().Should().Be(0m, "local workers cost nothing");
    }

    [Fact]
    public async Task StartAsync_DashboardOff_DashboardUriIsNull_AndItsAddressRefusesConnections()
    {
        var port = FreePort();
        using var logs = new CapturingLoggerProvider();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1, Backend = new InProcessBackend(), Dashboard = false, DashboardAddress = new IPEndPoint(IPAddress.Loopback, port), LoggerFactory = logs.CreateFactory(),
        });

        cluster.DashboardUri.Should().BeNull();
        logs.Entries.Should().NotContain(e => e.Message.Contains("Dashboard", StringComparison.Ordinal));
        using var client = new TcpClient();
        var connect = async () => await client.ConnectAsync(IPAddress.Loopback, port);
        await connect.Should().ThrowAsync<SocketException>();
    }

    [Fact]
    public async Task StartAsync_Port8787Taken_ServesOnAnotherFreePort()
    {
        using var taken = TryTake(8787);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        cluster.DashboardUri.Should().NotBeNull();
        cluster.DashboardUri!.Port.Should().NotBe(8787).And.BeGreaterThan(0);
        (await http.GetAsync(new Uri(cluster.DashboardUri, "api/snapshot"))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task StartAsync_GivenAddressTaken_WarnsAndRunsWithoutADashboard()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var logs = new CapturingLoggerProvider();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1, Backend = new InProcessBackend(), DashboardAddress = new IPEndPoint(IPAddress.Loopback, port), LoggerFactory = logs.CreateFactory(),
        });

        cluster.DashboardUri.Should().BeNull();
        logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.StartsWith($"No dashboard: it could not listen on 127.0.0.1:{port}", StringComparison.Ordinal));
        (await cluster.MapAsync(TestJobs.Square, [3.0]).WaitAsync(Safety)).Should().Equal(9.0);
    }

    [Fact]
    public async Task BeyondLoopback_RefusesViewersWithoutTheToken_AndServesThoseWithIt()
    {
        using var logs = new CapturingLoggerProvider();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1, Backend = new InProcessBackend(), DashboardAddress = new IPEndPoint(IPAddress.Any, 0), LoggerFactory = logs.CreateFactory(),
        });
        var uri = cluster.DashboardUri!;
        var token = Uri.UnescapeDataString(uri.Query["?token=".Length..]);
        var local = new UriBuilder("http", "127.0.0.1", uri.Port).Uri;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };

        token.Should().NotBeNullOrEmpty();
        uri.Query.Should().StartWith("?token=");
        (await http.GetAsync(new Uri(local, "api/snapshot"))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await http.GetAsync(local)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await http.GetAsync(new Uri(local, "api/snapshot?token=wrong"))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);

        var withToken = await http.GetAsync(new Uri(local, "?token=" + Uri.EscapeDataString(token)));
        withToken.StatusCode.Should().Be(HttpStatusCode.SeeOther, "the token is traded for a cookie and leaves the address bar");
        withToken.Headers.Location!.ToString().Should().Be("/");
        var cookie = withToken.Headers.GetValues("Set-Cookie").Single();
        cookie.Should().StartWith($"coiled-remote-dashboard-{uri.Port}=").And.Contain("httponly").And.Contain("samesite=strict");
        var clusterToken = cluster.LaunchToken;
        token.Should().Be(Cluster.ViewToken(clusterToken), "the viewer's token is made from the cluster token")
            .And.NotBe(clusterToken, "a viewer must not be able to reach the workers");

        using var withCookie = new HttpRequestMessage(HttpMethod.Get, new Uri(local, "api/snapshot"));
        withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
        (await http.SendAsync(withCookie)).StatusCode.Should().Be(HttpStatusCode.OK);
        using var withBearer = new HttpRequestMessage(HttpMethod.Get, local);
        withBearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await http.SendAsync(withBearer)).StatusCode.Should().Be(HttpStatusCode.OK);

        logs.Entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message.Contains("asks for the dashboard's token", StringComparison.Ordinal));
        logs.Entries.Should().NotContain(e => e.Message.Contains(token, StringComparison.Ordinal), "the token is never logged");
    }

    [Fact]
    public async Task Loopback_RequestNamingAnotherHost_IsRefusedSoThatARebindingPageCannotReadIt()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        var uri = cluster.DashboardUri!;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        using var rebound = new HttpRequestMessage(HttpMethod.Get, new Uri(uri, "api/snapshot"));
        rebound.Headers.Host = $"attacker.example:{uri.Port}";
        using var local = new HttpRequestMessage(HttpMethod.Get, new Uri(uri, "api/snapshot"));
        local.Headers.Host = $"localhost:{uri.Port}";

        (await http.SendAsync(rebound)).StatusCode.Should().Be(HttpStatusCode.MisdirectedRequest);
        (await http.SendAsync(local)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await http.GetAsync(new Uri(uri, "api/snapshot"))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Takes the port unless something else holds it already; either way it is taken while this lives.</summary>
    private static IDisposable? TryTake(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            return listener;
        }
        catch (SocketException)
        {
            listener.Dispose();
            return null;
        }
    }
}
