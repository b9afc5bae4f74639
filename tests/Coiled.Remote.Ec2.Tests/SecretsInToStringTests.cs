using System.Reflection;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// The EC2 backend carries the cluster token and the TLS certificate's private key to the instances it boots (through
/// the staging bucket, never the user data): no type of its own, nor of the <c>coiled-remote</c> command, may print them
/// from <c>ToString</c>.
/// </summary>
public sealed class SecretsInToStringTests
{
    [Fact]
    public void ToString_OfEveryTypeThatHoldsASecret_NeverPrintsIt()
        => SecretScan.Problems(SecretScan.ProductAssemblies()).Should().BeEmpty();

    [Fact]
    public void TypesHoldingSecrets_AllAssemblies_IncludeTheLaunchButNotTheBootScriptSettings()
    {
        var assemblies = SecretScan.ProductAssemblies();

        assemblies.Select(a => a.GetName().Name).Should().Contain(["Coiled.Remote", "Coiled.Remote.Ec2", "coiled-remote", "coiled-remote-worker"]);
        var holding = SecretScan.TypesHoldingSecrets(assemblies);
        holding.Should().Contain(typeof(WorkerLaunch), "the launch carries the cluster token to the backend");
        holding.Should().NotContain(typeof(UserDataScript.Settings), "the user data carries no secret: the token and the certificate travel in the expiring secrets object");
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
    public void ToString_UserDataScriptSettings_PrintsEveryMemberWithStarsForThePresignedSignatures()
    {
        var settings = new UserDataScript.Settings(
            7400, new Uri("https://bucket.s3.amazonaws.com/sha256/ab?X-Amz-Signature=5ec7e7"), new string('a', 64),
            new Uri("https://bucket.s3.amazonaws.com/boot/c/k?X-Amz-Signature=5ec7e8"), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12))
        {
            FirstClientTimeout = TimeSpan.FromMinutes(12),
        };

        settings.ToString().Should().Be(
            $"Settings {{ Port = 7400, WorkerUrl = https://bucket.s3.amazonaws.com/sha256/ab?***, WorkerSha256 = {new string('a', 64)}, " +
            "SecretsUrl = https://bucket.s3.amazonaws.com/boot/c/k?***, IdleTimeout = 00:20:00, NoClientTimeout = 00:02:00, MaxLifetime = 12:00:00, FirstClientTimeout = 00:12:00, InstanceMetadata = http://169.254.169.254/ }");
    }
}
