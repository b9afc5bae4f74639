using System.Net;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.Security;

/// <summary>
/// Records print their members in their generated <c>ToString</c>, and records are logged, shown by debuggers and put in
/// exception text: no type may print the cluster token, a key or a credential.
/// </summary>
public sealed class SecretsInToStringTests
{
    [Fact]
    public void ToString_OfEveryLibraryAndWorkerTypeThatHoldsASecret_NeverPrintsIt()
        => SecretScan.Problems(SecretScan.ProductAssemblies()).Should().BeEmpty();

    [Fact]
    public void TypesHoldingSecrets_LibraryAndWorker_FindsTheTypesThatCarryTheClusterToken()
    {
        var assemblies = SecretScan.ProductAssemblies();

        assemblies.Select(a => a.GetName().Name).Should().Contain(["Coiled.Remote", "Coiled.Remote.Protocol", "Coiled.Remote.Worker", "coiled-remote-worker"]);
        SecretScan.TypesHoldingSecrets(assemblies).Should().Contain([typeof(WorkerLaunch), typeof(ClusterSession), typeof(WorkerHostOptions)]);
    }

    [Fact]
    public void Problem_RecordThatPrintsItsToken_IsReportedWithWhatItPrinted()
    {
        SecretScan.Problem(typeof(LeakyLaunch)).Should().Be(
            $"{typeof(LeakyLaunch).FullName}: ToString prints the secret: LeakyLaunch {{ Count = 1, Token = s3cr3t-token }}");
    }

    [Fact]
    public void Problem_RecordThatPrintsARequiredInitOnlyKey_IsReported()
    {
        SecretScan.Problem(typeof(LeakyOptions)).Should().Be(
            $"{typeof(LeakyOptions).FullName}: ToString prints the secret: LeakyOptions {{ Port = 0, SigningKey = System.Byte[], Password = s3cr3t-token }}");
    }

    [Fact]
    public void Problem_RecordThatPrintsANestedRecordsToken_IsReported()
    {
        SecretScan.TypesHoldingSecrets([typeof(LeakySession).Assembly]).Should().Contain(typeof(LeakySession));
        SecretScan.Problem(typeof(LeakySession)).Should().StartWith($"{typeof(LeakySession).FullName}: ToString prints the secret: ");
    }

    [Fact]
    public void Problem_TypeThatCannotBeBuilt_IsReportedRatherThanPassed()
    {
        SecretScan.Problem(typeof(UnbuildableCredential)).Should().Be(
            $"{typeof(UnbuildableCredential).FullName}: could not be built to check its ToString (InvalidOperationException: no credential today)");
    }

    [Fact]
    public void Problem_ClassWithObjectsToString_IsNotReported()
    {
        SecretScan.Problem(typeof(QuietHolder)).Should().BeNull();
    }

    [Fact]
    public void ToString_WorkerLaunch_PrintsEveryMemberWithStarsForTheToken()
    {
        var launch = new WorkerLaunch(3, "s3cr3t-token", TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), NullLoggerFactory.Instance);

        launch.ToString().Should().Be(
            "WorkerLaunch { Count = 3, MinimumCount = 3, Token = ***, IdleTimeout = 00:20:00, NoClientTimeout = 00:02:00, KeepAlive = 00:00:00, " +
            "ClusterName = , LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory }");
    }

    [Fact]
    public void ToString_ClusterSession_PrintsTheLaunchWithStarsForTheToken()
    {
        var launch = new WorkerLaunch(1, "s3cr3t-token", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), NullLoggerFactory.Instance);
        var session = new ClusterSession(launch, null, new Dictionary<string, string>(), new SyncReport(0, 0, 0));

        session.ToString().Should().Contain("Launch = WorkerLaunch { Count = 1, MinimumCount = 1, Token = ***,").And.NotContain("s3cr3t-token");
    }

    [Fact]
    public void ToString_WorkerHostOptions_LeavesOutTheToken()
    {
        var options = new WorkerHostOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Token = "s3cr3t-token", CacheDirectory = "/tmp/cache" };

        options.ToString().Should().StartWith("WorkerHostOptions { Listen = 127.0.0.1:0, CacheDirectory = /tmp/cache, ").And.NotContain("s3cr3t-token");
    }

    internal sealed record LeakyLaunch(int Count, string Token);

    internal sealed record LeakyOptions
    {
        public int Port { get; init; }

        public required byte[] SigningKey { get; init; }

        public required string Password { get; init; }
    }

    internal sealed record LeakySession(LeakyLaunch Launch);

    internal sealed record UnbuildableCredential
    {
        public UnbuildableCredential(string credential) => throw new InvalidOperationException("no credential today");

        public string Credential { get; init; } = string.Empty;
    }

    internal sealed class QuietHolder(string token)
    {
        public string Token { get; } = token;
    }
}
