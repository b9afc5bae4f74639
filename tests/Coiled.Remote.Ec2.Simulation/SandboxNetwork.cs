using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// The network of sandboxed instances: a bridge on this machine with an address of its own (where the local S3
/// endpoint listens, and from where the caller connects), and one network namespace per instance joined to it by a
/// veth pair. An instance has no route beyond the bridge: it reaches the local S3 endpoint and the caller, nothing else.
/// Needs root and iproute2; everything is removed on dispose.
/// </summary>
public sealed class SandboxNetwork : IDisposable
{
    private readonly string _bridge;
    private readonly string _prefix;
    private readonly int _subnet;
    private readonly List<string> _namespaces = [];
    private int _next = 1;

    private SandboxNetwork()
    {
        var id = Environment.ProcessId % 10_000;
        _subnet = Environment.ProcessId % 200 + 20;
        _prefix = $"cr{id.ToString(CultureInfo.InvariantCulture)}";
        _bridge = $"{_prefix}br";
        HostAddress = IPAddress.Parse($"10.213.{_subnet}.1");
    }

    /// <summary>This machine's address on the bridge.</summary>
    public IPAddress HostAddress { get; }

    /// <summary>Why sandbox networks cannot be made here, or null when they can.</summary>
    public static string? Unavailable { get; } = Probe();

    public static SandboxNetwork Create()
    {
        var network = new SandboxNetwork();
        try
        {
            IpWhatever("link", "del", network._bridge);
            Ip("link", "add", network._bridge, "type", "bridge");
            Ip("addr", "add", $"{network.HostAddress}/24", "dev", network._bridge);
            Ip("link", "set", network._bridge, "up");
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>A new namespace joined to the bridge: its name (for <c>ip netns exec</c>) and its address.</summary>
    public (string Namespace, IPAddress Address) AddInstance()
    {
        int n;
        lock (_namespaces)
        {
            n = ++_next;
            if (n > 254)
            {
                throw new InvalidOperationException("A sandbox network holds at most 253 instances.");
            }
        }

        var name = $"{_prefix}i{n.ToString(CultureInfo.InvariantCulture)}";
        var address = IPAddress.Parse($"10.213.{_subnet}.{n.ToString(CultureInfo.InvariantCulture)}");
        IpWhatever("netns", "del", name);
        Ip("netns", "add", name);
        lock (_namespaces)
        {
            _namespaces.Add(name);
        }

        var (outside, inside) = ($"{name}h", $"{name}n");
        Ip("link", "add", outside, "type", "veth", "peer", "name", inside);
        Ip("link", "set", outside, "master", _bridge);
        Ip("link", "set", outside, "up");
        Ip("link", "set", inside, "netns", name);
        Ip("-n", name, "addr", "add", $"{address}/24", "dev", inside);
        Ip("-n", name, "link", "set", inside, "up");
        Ip("-n", name, "link", "set", "lo", "up");
        return (name, address);
    }

    public void Dispose()
    {
        List<string> namespaces;
        lock (_namespaces)
        {
            namespaces = [.. _namespaces];
            _namespaces.Clear();
        }

        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        foreach (var name in namespaces)
        {
            IpWhatever("netns", "del", name);
        }

        IpWhatever("link", "del", _bridge);
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "sandbox networks need Linux network namespaces";
        }

        var name = $"crprobe{Environment.ProcessId}";
        try
        {
            Ip("netns", "add", name);
            Ip("netns", "del", name);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return $"network namespaces cannot be made here (root and iproute2 are needed): {ex.Message}";
        }
    }

    private static void Ip(params string[] arguments) => Run(arguments, ignoreFailure: false);

    /// <summary>For removals: what is already gone is no failure.</summary>
    private static void IpWhatever(params string[] arguments) => Run(arguments, ignoreFailure: true);

    private static void Run(string[] arguments, bool ignoreFailure)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 && !ignoreFailure)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed: {error.Trim()}");
        }
    }
}
