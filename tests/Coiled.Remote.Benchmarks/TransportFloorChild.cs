using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// What a new .NET process pays before it can reach a running worker at all, with nothing of the cluster's own work in
/// the way: the floor under a new process's attach. "grpc": a channel and one Hello call (Grpc.Net.Client, plaintext
/// HTTP/2 on loopback), from the first line of the call to its answer. "tcp": a TCP connection to the worker's port.
/// </summary>
internal static class TransportFloorChild
{
    public const string Mode = "--transport-floor-child";

    /// <summary>The worker's token reaches the child in this variable, never on its command line.</summary>
    public const string TokenVariable = "COILED_REMOTE_BENCH_TOKEN";

    /// <summary>In the child: args are the mode, "grpc" or "tcp", and the worker's address; prints "floor MS".</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var address = new Uri(args[2]);
        var clock = Stopwatch.StartNew();
        if (args[1] == "tcp")
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(address.Host, address.Port);
        }
        else
        {
            using var channel = GrpcChannel.ForAddress(address);
            var call = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Environment.GetEnvironmentVariable(TokenVariable) } });
            await new Transport.Protocol.Worker.WorkerClient(channel).HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current, ClientName = "floor" }, call);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"floor {clock.Elapsed.TotalMilliseconds:F1}"));
        return 0;
    }

    /// <summary>In the benchmark: runs one child of <paramref name="kind"/> against the worker and returns its figure.</summary>
    public static async Task<double> MeasureAsync(string kind, Uri worker, string token)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith(Path.DirectorySeparatorChar + "Coiled.Remote.Benchmarks", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(TransportFloorChild).Assembly.Location);
        }

        foreach (var argument in new[] { Mode, kind, worker.ToString() })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[TokenVariable] = token;
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var error = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        var line = (await output).Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("floor ", StringComparison.Ordinal));
        if (child.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"The {kind} floor child exited with {child.ExitCode}: {await output} {await error}");
        }

        return double.Parse(line["floor ".Length..], CultureInfo.InvariantCulture);
    }
}
