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
}
