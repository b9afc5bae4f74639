using System.Reflection;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// The EC2 backend carries the cluster token and the TLS certificate's private key to the instances it boots: no type
/// of its own, nor of the <c>coiled-remote</c> command, may print them from <c>ToString</c>.
/// </summary>
public sealed class SecretsInToStringTests
{
    [Fact]
    public void ToString_OfEveryTypeThatHoldsASecret_NeverPrintsIt()
        => SecretScan.Problems(SecretScan.ProductAssemblies()).Should().BeEmpty();

    [Fact]
    public void TypesHoldingSecrets_AllAssemblies_IncludeTheEc2BootSettings()
    {
        var assemblies = SecretScan.ProductAssemblies();

        assemblies.Select(a => a.GetName().Name).Should().Contain(["Coiled.Remote", "Coiled.Remote.Ec2", "coiled-remote", "coiled-remote-worker"]);
        SecretScan.TypesHoldingSecrets(assemblies).Should().Contain(typeof(UserDataScript.Settings));
    }

    [Fact]
    public void NotSecrets_EachEntry_NamesAMemberThatExists()
    {
        const BindingFlags members = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var names = SecretScan.ProductAssemblies()
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMembers(members).Select(m => $"{t.FullName}.{m.Name}"))
            .ToHashSet(StringComparer.Ordinal);

        SecretScan.NotSecrets.Where(n => !names.Contains(n)).Should().BeEmpty("an entry for a member that is gone or renamed hides nothing and should be removed");
    }

    [Fact]
    public void ToString_UserDataScriptSettings_PrintsEveryMemberWithStarsForTheTokenAndTheCertificate()
    {
        var settings = new UserDataScript.Settings(
            "s3cr3t-token", [1, 2, 3], 7400, "0.1.0", new Uri("https://api.nuget.org/v3-flatcontainer/"),
            TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12)) { FirstClientTimeout = TimeSpan.FromMinutes(12) };

        settings.ToString().Should().Be(
            "Settings { Token = ***, CertificatePfx = ***, Port = 7400, WorkerVersion = 0.1.0, " +
            "WorkerPackageSource = https://api.nuget.org/v3-flatcontainer/, IdleTimeout = 00:20:00, NoClientTimeout = 00:02:00, MaxLifetime = 12:00:00, FirstClientTimeout = 00:12:00 }");
    }
}
