using System.Diagnostics;
using System.Text;

namespace Coiled.Remote.Ec2.Simulation;

/// <summary>An "instance" of the local EC2 endpoint: its launch parameters, its state, and the user data process that boots it.</summary>
public sealed class FakeInstance
{
    private readonly StringBuilder _console = new();

    public required string Id { get; init; }
    public required string ImageId { get; init; }
    public required string InstanceType { get; init; }
    public required string SubnetId { get; init; }
    public required string VpcId { get; init; }
    public required string Zone { get; init; }
    public required IReadOnlyList<string> GroupIds { get; init; }
    public required IReadOnlyDictionary<string, string> Tags { get; init; }
    public required string? ClientToken { get; init; }
    public required bool Spot { get; init; }
    public required string ShutdownBehavior { get; init; }
    public required string? HttpTokens { get; init; }
    public required string UserData { get; init; }
    public required string? KeyName { get; init; }

    /// <summary>Launched without a public address: its private one is what the caller reaches (here, its sandbox's).</summary>
    public bool PrivateOnly { get; init; }

    /// <summary>The IAM instance profile it was launched with, by name; null for none.</summary>
    public string? InstanceProfile { get; init; }

    /// <summary>Its root volume as asked for, e.g. "40 GiB gp3 encrypted deleted on termination"; null for the image's own.</summary>
    public string? RootVolume { get; init; }
    public required DateTime LaunchTime { get; init; }
    public required string PrivateIp { get; init; }
    /// <summary>Where the instance listens: its own loopback address, or its address in the sandbox network.</summary>
    public required string SandboxAddress { get; set; }

    /// <summary>The network namespace the instance runs in, in a sandbox network; null on the machine's own network.</summary>
    public string? Namespace { get; set; }

    public string State { get; set; } = "pending";
    public string? PublicIp { get; set; }
    public string? StateReason { get; set; }

    /// <summary>When it began to shut down or stop; EC2 gives it in the state transition reason.</summary>
    public DateTime? TransitionedAt { get; set; }

    /// <summary>EC2's state transition reason, such as <c>User initiated (2026-12-01 03:00:00 GMT)</c>; empty while it runs.</summary>
    public string TransitionReason => TransitionedAt is { } at
        ? $"{(StateReason?.StartsWith("Server.", StringComparison.Ordinal) == true ? "Service" : "User")} initiated ({at.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)} GMT)"
        : string.Empty;
    public bool Described { get; set; }
    public Process? Process { get; set; }
    public string? Sandbox { get; set; }

    public static int StateCode(string state) => state switch
    {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        "terminated" => 48,
        "stopping" => 64,
        "stopped" => 80,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public string Console
    {
        get
        {
            lock (_console)
            {
                return _console.ToString();
            }
        }
    }

    public void AppendConsole(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_console)
        {
            _console.Append(line).Append('\n');
        }
    }
}
