using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Tests.Synchronization;

/// <summary>A worker's platform, from its hello, and the runtime identifiers whose assets it can use.</summary>
public sealed class RuntimePlatformTests
{
    [Theory]
    [InlineData("linux-x64", "linux-x64,linux,unix-x64,unix,any")]
    [InlineData("linux-arm64", "linux-arm64,linux,unix-arm64,unix,any")]
    [InlineData("linux-musl-x64", "linux-musl-x64,linux-musl,linux-x64,linux,unix-x64,unix,any")]
    [InlineData("win-x64", "win-x64,win,any")]
    [InlineData("osx-arm64", "osx-arm64,osx,unix-arm64,unix,any")]
    public void Parse_PortableIdentifier_FallsBackAsThePortableGraphSays(string runtimeIdentifier, string compatible)
    {
        RuntimePlatform.Parse(runtimeIdentifier).Compatible.Should().Equal(compatible.Split(','));
    }

    [Fact]
    public void Of_HelloNamingItsRuntime_IsThatRuntime()
    {
        var platform = RuntimePlatform.Of(new HelloReply { RuntimeIdentifier = "linux-arm64", OsDescription = "Amazon Linux 2023", Architecture = "X64" });

        platform.RuntimeIdentifier.Should().Be("linux-arm64");
        platform.OperatingSystem.Should().Be("linux");
        platform.Architecture.Should().Be("arm64");
    }

    [Theory]
    [InlineData("Ubuntu 24.04.1 LTS", "Arm64", "linux-arm64")]
    [InlineData("Microsoft Windows 10.0.22631", "X64", "win-x64")]
    [InlineData("Darwin 23.1.0 Darwin Kernel Version 23.1.0", "Arm64", "osx-arm64")]
    public void Of_HelloOfAnOlderWorkerWithoutItsRuntime_InfersItFromTheOsAndArchitecture(string osDescription, string architecture, string expected)
    {
        RuntimePlatform.Of(new HelloReply { OsDescription = osDescription, Architecture = architecture }).RuntimeIdentifier.Should().Be(expected);
    }

    [Fact]
    public void Current_IsThisProcesssRuntime()
    {
        var expected = (OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux") + "-"
            + System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();

        RuntimePlatform.Current.RuntimeIdentifier.Should().Be(expected);
    }
}
