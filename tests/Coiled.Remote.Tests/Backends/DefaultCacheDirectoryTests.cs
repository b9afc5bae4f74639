using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.Backends;

/// <summary>Local workers keep their cache where the platform keeps caches.</summary>
public sealed class DefaultCacheDirectoryTests
{
    [Fact]
    public void DefaultCacheDirectory_OnThisPlatform_IsItsUsualCacheFolder()
    {
        string expected;
        if (OperatingSystem.IsWindows())
        {
            expected = Path.Combine(Environment.GetEnvironmentVariable("LOCALAPPDATA")!, "coiled-remote");
        }
        else if (OperatingSystem.IsMacOS())
        {
            expected = Path.Combine(Environment.GetEnvironmentVariable("HOME")!, "Library", "Caches", "coiled-remote");
        }
        else
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            expected = Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetEnvironmentVariable("HOME")!, ".cache") : xdg, "coiled-remote");
        }

        LocalProcessBackend.DefaultCacheDirectory().Should().Be(expected);
    }

    [UnixTheory]
    [InlineData("/var/cache/alice", "/home/alice", "/var/cache/alice/coiled-remote")]
    [InlineData("", "/home/alice", "/home/alice/.cache/coiled-remote")]
    [InlineData(null, "/home/alice", "/home/alice/.cache/coiled-remote")]
    [InlineData("cache", "/home/alice", "/home/alice/.cache/coiled-remote")]
    [InlineData("./.cache", "/home/alice", "/home/alice/.cache/coiled-remote")]
    public void LinuxCacheDirectory_XdgCacheHome_IsUsedOnlyWhenItIsAnAbsolutePath(string? xdgCacheHome, string home, string expected)
    {
        LocalProcessBackend.LinuxCacheDirectory(xdgCacheHome, home).Should().Be(expected);
    }

    [Fact]
    public void LinuxCacheDirectory_NoHomeAndNoXdgCacheHome_IsAFolderOfThisUserInTheTemporaryFolder()
    {
        LocalProcessBackend.LinuxCacheDirectory(null, string.Empty).Should().Be(Path.Combine(Path.GetTempPath(), $"coiled-remote-{Environment.UserName}"));
    }
}
