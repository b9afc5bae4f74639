using System.Diagnostics;

namespace Coiled.Remote.Tests.Support;

/// <summary>A fact that needs Linux network namespaces (root and iproute2); skipped with the reason where they cannot be made.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Unavailable = new(Probe);

    public NetworkNamespaceFactAttribute()
    {
        if (Unavailable.Value is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        var name = $"crprobe{Environment.ProcessId}";
        try
        {
            if (Run("ip", "netns", "add", name) != 0)
            {
                return "this machine does not allow creating network namespaces (ip netns add failed)";
            }

            Run("ip", "netns", "del", name);
            return null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "the ip command (iproute2) is not installed";
        }
    }

    internal static int Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(arguments[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.WaitForExit();
        return process.ExitCode;
    }
}
