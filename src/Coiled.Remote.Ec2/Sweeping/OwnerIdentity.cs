using System.Diagnostics;
using System.Globalization;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Who started a cluster: user, machine and process, written to the <c>coiled-remote:owner</c> tag as
/// <c>user@host:pid</c>, so that cleanup on the same machine can tell that the owner is gone.
/// </summary>
internal sealed record OwnerIdentity(string User, string Host, int ProcessId)
{
    public static OwnerIdentity Current { get; } = new(Environment.UserName, Environment.MachineName, Environment.ProcessId);

    public override string ToString() => $"{User}@{Host}:{ProcessId.ToString(CultureInfo.InvariantCulture)}";

    public static OwnerIdentity? Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var at = text.IndexOf('@', StringComparison.Ordinal);
        var colon = text.LastIndexOf(':');
        if (at <= 0 || colon <= at + 1
            || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return null;
        }

        return new OwnerIdentity(text[..at], text[(at + 1)..colon], pid);
    }

    /// <summary>
    /// True when the owner was a process of this machine that no longer runs. An owner on another machine is never
    /// known to be gone: its clusters are left to their expiry.
    /// </summary>
    public bool IsGone(Func<int, bool> isProcessAlive)
        => string.Equals(Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase) && !isProcessAlive(ProcessId);

    public static bool IsAlive(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
