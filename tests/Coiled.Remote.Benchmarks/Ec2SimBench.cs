using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Coiled.Remote.Ec2;
using Coiled.Remote.Ec2.Simulation;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// "Simulated EC2 start, 16 workers": the EC2 backend against the simulated fleet (the local EC2 endpoint, whose
/// instances run the real boot script in sandboxes without .NET, in network namespaces where those can be made, and
/// s3rver for the staging bucket), with this benchmark's app padded to about 50 MB with a data file. It reports the seconds from
/// StartAsync to all workers connected and what the caller uploaded (to S3 and to the workers together), the
/// one-time upload of the self-contained worker apart.
/// </summary>
internal sealed class Ec2SimBench(string cache, Action<string, string, string> row, List<string> failures)
{
    private const int Workers = 16;
    private const double MB = 1_000_000;

    private readonly JsonObject _json = [];

    public async Task RunAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            failures.Add("ec2sim: the simulated fleet needs Linux");
            return;
        }

        if (S3rver.ModuleDirectory() is null)
        {
            failures.Add($"ec2sim: {S3rver.Missing}");
            return;
        }

        await RunOnLinuxAsync();
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private async Task RunOnLinuxAsync()
    {
        // This benchmark's own app, with a data file of random bytes that makes it about 50 MB.
        var app = Path.Combine(cache, "fleet-app");
        ExecutorBench.CopyApp(AppContext.BaseDirectory, app);
        File.WriteAllBytes(Path.Combine(app, "model.bin"), RandomNumberGenerator.GetBytes((int)Math.Max(1_000_000, 50 * MB - DistinctBytes(app))));
        var appBytes = DistinctBytes(app);

        var isolated = SandboxNetwork.Unavailable is null;
        await using var ec2 = await LocalEc2Endpoint.StartAsync(isolateNetwork: isolated);
        var worker = WorkerBundle.Find(InstanceArchitecture.X64);
        var tuning = Ec2Tuning.Default with
        {
            PollInterval = TimeSpan.FromMilliseconds(200),
            ProbeTimeout = TimeSpan.FromSeconds(1),
            HandleInterrupts = false,
            ResolveCallerAddress = _ => Task.FromResult(System.Net.IPAddress.Parse("203.0.113.7")),
        };
        var backend = new Ec2Backend(ec2.Options(), tuning, TimeProvider.System);
        var clock = Stopwatch.StartNew();
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = Workers, Backend = backend, ApplicationDirectory = app }))
        {
            var started = clock.Elapsed.TotalSeconds;
            var results = await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, 1600));
            if (!results.SequenceEqual(Enumerable.Range(0, 1600)))
            {
                failures.Add("ec2sim: the map over the simulated fleet answered wrong results");
            }

            var callerMb = (backend.BytesStaged - worker.Size + cluster.Summary.SyncBytes) / MB;
            _json["ec2_sim_workers"] = cluster.Workers.Count;
            _json["ec2_sim_start_s"] = Math.Round(started, 1);
            _json["ec2_sim_app_mb"] = Math.Round(appBytes / MB, 1);
            _json["ec2_sim_caller_upload_mb"] = Math.Round(callerMb, 1);
            _json["ec2_sim_worker_upload_mb"] = Math.Round(worker.Size / MB, 1);
            _json["ec2_sim_network_namespaces"] = isolated;
            row("ec2sim", $"Simulated EC2 start, {Workers} workers{(isolated ? ", each in its own network namespace" : string.Empty)}: StartAsync to all connected",
                $"{started,8:F1} s");
            row("ec2sim", $"  caller upload for a {appBytes / MB:F1} MB app (S3 and workers; the {worker.Size / MB:F0} MB worker once per account apart)",
                $"{callerMb,8:F1} MB");

            // A 10 MB value shared with every worker: the caller uploads it to the bucket once, and each worker fetches it.
            var model = new byte[10_000_000];
            new Random(7).NextBytes(model);
            var before = (Staged: backend.BytesStaged, Sent: cluster.Summary.ArgumentBytes);
            clock.Restart();
            await using (var shared = await cluster.ShareAsync(model))
            {
                var scores = await cluster.MapAsync(Jobs.ScoreShared, Enumerable.Range(0, 1600).Select(i => (shared, i)));
                if (!scores.SequenceEqual(Enumerable.Range(0, 1600).Select(i => (int)model[i])))
                {
                    failures.Add("ec2sim: the map over a shared value answered wrong results");
                }
            }

            var sharedMs = clock.Elapsed.TotalMilliseconds;
            var uploadMb = (backend.BytesStaged - before.Staged + cluster.Summary.ArgumentBytes - before.Sent) / MB;
            var fetchedMb = cluster.Summary.SharedValueBytesStaged / MB;
            _json["ec2_sim_shared_10mb_x1600_ms"] = Math.Round(sharedMs, 1);
            _json["ec2_sim_shared_10mb_caller_upload_mb"] = Math.Round(uploadMb, 1);
            _json["ec2_sim_shared_10mb_fetched_mb"] = Math.Round(fetchedMb, 1);
            row("ec2sim", $"  10 MB shared value, 1,600 items: ShareAsync and MapAsync", $"{sharedMs,8:F1} ms");
            row("ec2sim", $"  caller upload for it (S3 and workers), and what the workers fetched from S3", $"{uploadMb,8:F1} MB / {fetchedMb:F1} MB");
        }
    }

    public void WriteJson(JsonObject json)
    {
        foreach (var (key, value) in _json)
        {
            json[key] = value?.DeepClone();
        }
    }

    /// <summary>The bytes of the app's distinct contents: what a caller uploads once.</summary>
    private static long DistinctBytes(string app)
        => Directory.EnumerateFiles(app, "*", SearchOption.AllDirectories)
            .GroupBy(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))).Sum(g => new FileInfo(g.First()).Length);
}
