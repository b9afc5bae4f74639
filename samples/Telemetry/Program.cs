// Telemetry: the "Coiled.Remote" ActivitySource, Meter and logs exported by the OpenTelemetry console exporter.
using Coiled.Remote;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

// Spans: one per call ("map Busy.Spin") and one per task ("task Busy.Spin", with worker id, attempt and bytes).
using var tracing = Sdk.CreateTracerProviderBuilder()
    .AddSource("Coiled.Remote")
    .AddConsoleExporter()
    .Build();

// Metrics: tasks queued, running, done, failed, retried; task duration; bytes; each worker's CPU and memory.
using var metrics = Sdk.CreateMeterProviderBuilder()
    .AddMeter("Coiled.Remote")
    .AddConsoleExporter()
    .Build();

// Logs: cluster start, lost workers, retries and the summary at close, as structured records.
using var logging = LoggerFactory.Create(builder => builder.AddOpenTelemetry(otel => otel.AddConsoleExporter()));

await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, LoggerFactory = logging }))
{
    // Long enough (about 1.5 s) for each worker to send a CPU and memory report, which it does every second.
    var spins = await cluster.MapAsync(Busy.Spin, [700, 700, 700, 700]);
    Console.WriteLine($"spun {spins.Sum():N0} iterations");

    // The worker gauges read the live cluster: export them before it closes.
    metrics.ForceFlush();
}

return 0;

public static class Busy
{
    /// <summary>Keeps one processor busy for about <paramref name="milliseconds"/>; returns how many iterations that took.</summary>
    [Remote]
    public static long Spin(int milliseconds)
    {
        var until = Environment.TickCount64 + milliseconds;
        long iterations = 0;
        while (Environment.TickCount64 < until)
        {
            iterations++;
        }

        return iterations;
    }
}
