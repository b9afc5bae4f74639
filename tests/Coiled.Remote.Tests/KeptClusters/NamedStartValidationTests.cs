using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.KeptClusters;

/// <summary>A named start's options are checked before any worker starts, each mistake with a message that says what to do.</summary>
public sealed class NamedStartValidationTests
{
    [Fact]
    public async Task StartAsync_KeepAliveWithoutAName_ThrowsSayingToNameTheCluster()
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { KeepAlive = TimeSpan.FromMinutes(5) });

        (await start.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .StartWith("ClusterOptions.KeepAlive keeps a named cluster's workers for the next start of that name: set ClusterOptions.Name too.");
    }

    [Theory]
    [InlineData("")]
    [InlineData("-leading-dash")]
    [InlineData("has space")]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("x12345678901234567890123456789012345678901234567890123456789012345")]
    public async Task StartAsync_NameThatIsNotAClusterName_ThrowsNamingTheRule(string name)
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Name = name });

        (await start.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .StartWith($"ClusterOptions.Name '{name}' is not a cluster name: use letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit.");
    }

    [Fact]
    public async Task StartAsync_KeepAliveAboveTheLocalDefaultCeiling_ThrowsNamingBoth()
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Name = "long", KeepAlive = TimeSpan.FromHours(3) });

        (await start.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should()
            .StartWith("ClusterOptions.KeepAlive is 03:00:00, above ClusterOptions.MaxKeepAlive of 02:00:00 (the default for local processes). Keep it shorter, or raise MaxKeepAlive knowingly.");
    }

    [Fact]
    public async Task StartAsync_KeepAliveAboveAMaxKeepAliveSetByHand_ThrowsNamingIt()
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Name = "short", KeepAlive = TimeSpan.FromMinutes(20), MaxKeepAlive = TimeSpan.FromMinutes(10) });

        (await start.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should()
            .StartWith("ClusterOptions.KeepAlive is 00:20:00, above ClusterOptions.MaxKeepAlive of 00:10:00. Keep it shorter, or raise MaxKeepAlive knowingly.");
    }

    [Fact]
    public async Task StartAsync_NegativeKeepAlive_Throws()
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Name = "negative", KeepAlive = TimeSpan.FromSeconds(-1) });

        (await start.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should()
            .StartWith("ClusterOptions.KeepAlive cannot be negative; zero stops the workers with the cluster.");
    }

    [Fact]
    public async Task StartAsync_NameWithInProcessWorkers_ThrowsSayingWhichBackendsCanKeepWorkers()
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Name = "inside", Backend = new InProcessBackend() });

        (await start.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .StartWith("ClusterOptions.Name needs a backend whose workers can outlive the cluster, LocalProcessBackend or Ec2Backend; in-process workers cannot keep them.");
    }

    [Fact]
    public async Task ConnectAsync_WithAName_ThrowsSayingWorkersStartedByHandOutliveTheirClientsAlready()
    {
        var connect = () => Cluster.ConnectAsync([new Uri("http://127.0.0.1:1")], "token", new ClusterOptions { Name = "byhand" });

        (await connect.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .StartWith("ClusterOptions.Name and KeepAlive are for clusters whose workers this library starts (Cluster.StartAsync)");
    }
}
