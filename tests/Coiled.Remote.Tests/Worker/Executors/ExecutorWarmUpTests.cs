using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Tests.Worker.Executors;

/// <summary>
/// A spare executor's warm-up: one direct route to itself, served by the executor's own serving code on real sockets,
/// that carries a batch and its outcome and leaves nothing behind.
/// </summary>
public sealed class ExecutorWarmUpTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(60);

    [LinuxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_BeforeTheSpareIsBound_CarriesABatchAndItsOutcomeOverARouteToItselfAndLeavesNoSocketBehind(bool tls)
    {
        using var folder = new TempDirectory();
        var secret = RandomNumberGenerator.GetBytes(ExecutorLink.SecretBytes);
        var server = new ExecutorServer(secret, Options(folder.Path, tls));
        var served = new List<Task>();

        var carried = await ExecutorWarmUp.RunAsync(folder.Path, secret, tls, (link, environment) => Serve(server, link, environment, served), new TaskCompletionSource().Task).WaitAsync(Safety);

        carried.Should().BeTrue("the unknown-method failure of the warm-up batch came back on the route");
        served.Should().ContainSingle().Which.IsCompletedSuccessfully.Should().BeTrue("serving ended when the warm-up's client closed the route");
        Directory.EnumerateFileSystemEntries(folder.Path).Should().BeEmpty("the warm-up link's socket file is deleted");
    }

    [LinuxFact]
    public async Task RunAsync_SpareAlreadyBound_SkipsTheRouteAndServesNothing()
    {
        using var folder = new TempDirectory();
        var secret = RandomNumberGenerator.GetBytes(ExecutorLink.SecretBytes);
        var server = new ExecutorServer(secret, Options(folder.Path, tls: false));
        var served = new List<Task>();

        var carried = await ExecutorWarmUp.RunAsync(folder.Path, secret, tls: false, (link, environment) => Serve(server, link, environment, served), Task.CompletedTask).WaitAsync(Safety);

        carried.Should().BeFalse();
        served.Should().BeEmpty("a bound spare's first route compiles what is still cold itself");
    }

    [LinuxFact]
    public async Task RunAsync_LinkWithTheWrongSecret_IsRefusedByTheExecutorAndTheWarmUpEndsWithoutHanging()
    {
        using var folder = new TempDirectory();
        var server = new ExecutorServer(RandomNumberGenerator.GetBytes(ExecutorLink.SecretBytes), Options(folder.Path, tls: false));
        var served = new List<Task>();

        var carried = await ExecutorWarmUp.RunAsync(
            folder.Path, RandomNumberGenerator.GetBytes(ExecutorLink.SecretBytes), tls: false, (link, environment) => Serve(server, link, environment, served), new TaskCompletionSource().Task).WaitAsync(Safety);

        carried.Should().BeFalse("the executor closed a link that did not present its secret, and the route's connection with it");
        served.Should().ContainSingle().Which.IsCompletedSuccessfully.Should().BeTrue();
        Directory.EnumerateFileSystemEntries(folder.Path).Should().BeEmpty();
    }

    private static Task Serve(ExecutorServer server, System.Net.Sockets.Socket link, Coiled.Remote.Worker.RemoteEnvironment environment, List<Task> served)
    {
        var serving = server.ServeAsync(link, Task.FromResult(environment));
        served.Add(serving);
        return serving;
    }

    private static ExecutorCommandLine Options(string folder, bool tls)
        => ExecutorCommandLine.Parse(["--socket", Path.Combine(folder, "link"), "--slots", "2", "--timeout-grace-ms", "1000", "--max-result-bytes", "1000000", .. tls ? ["--tls", "true"] : Array.Empty<string>()]);
}
