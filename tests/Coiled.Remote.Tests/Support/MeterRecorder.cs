using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Coiled.Remote.Telemetry;

namespace Coiled.Remote.Tests.Support;

/// <summary>Records the "Coiled.Remote" meter's measurements tagged with one cluster's id.</summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, string? Worker)> _measurements = new();
    private readonly string _clusterId;

    public MeterRecorder(string clusterId)
    {
        _clusterId = clusterId;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Coiled.Remote")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public void Observe() => _listener.RecordObservableInstruments();

    public double Sum(string instrument) => _measurements.Where(m => m.Instrument == instrument).Sum(m => m.Value);

    public int Count(string instrument) => _measurements.Count(m => m.Instrument == instrument);

    public double Last(string instrument) => _measurements.Last(m => m.Instrument == instrument).Value;

    public Dictionary<string, double> ByWorker(string instrument)
        => _measurements.Where(m => m.Instrument == instrument && m.Worker is not null)
            .GroupBy(m => m.Worker!)
            .ToDictionary(g => g.Key, g => g.Last().Value);

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? cluster = null, worker = null;
        foreach (var tag in tags)
        {
            if (tag.Key == RemoteTelemetry.ClusterTag)
            {
                cluster = tag.Value as string;
            }
            else if (tag.Key == RemoteTelemetry.WorkerTag)
            {
                worker = tag.Value as string;
            }
        }

        if (cluster == _clusterId)
        {
            _measurements.Enqueue((instrument.Name, value, worker));
        }
    }
}
