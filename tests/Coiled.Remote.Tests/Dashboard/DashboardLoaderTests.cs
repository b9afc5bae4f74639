using Coiled.Remote.Dashboard;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>How the client reaches the dashboard assembly, and what it does without it.</summary>
public sealed class DashboardLoaderTests
{
    [Fact]
    public async Task StartAsync_WithoutTheDashboardAssembly_WarnsAndStartsNothing()
    {
        using var logs = new CapturingLoggerProvider();
        using var factory = logs.CreateFactory();
        var feed = new DashboardFeed(new DashboardRecorder(new FakeTimeProvider()), "in-process");

        var server = await DashboardLoader.StartAsync(null, null, "token", feed, factory, CancellationToken.None);

        server.Should().BeNull();
        logs.Entries.Should().ContainSingle().Which.Should().BeEquivalentTo(new
        {
            Level = LogLevel.Warning,
            Message = "No dashboard: the Coiled.Remote.Dashboard assembly is not in this application (it comes with the Coiled.Remote package); the cluster runs without one",
        });
    }

    [Fact]
    public void FindFactory_InAnApplicationThatReferencesThePackage_FindsTheDashboardAssembly()
        => DashboardLoader.FindFactory().Should().NotBeNull().And.Subject!.GetType().Assembly.GetName().Name.Should().Be(DashboardLoader.AssemblyName);
}
