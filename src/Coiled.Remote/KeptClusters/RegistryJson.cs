using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace Coiled.Remote.KeptClusters;

/// <summary>
/// A registry entry as JSON, read and written by hand with <see cref="JsonDocument"/> and <see cref="Utf8JsonWriter"/>:
/// an attach reads it in the first milliseconds of a new process, where the serializer's first use would cost tens of them.
/// </summary>
internal static class RegistryJson
{
    public static void Write(Stream stream, RegisteredCluster cluster)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("name", cluster.Name);
        json.WriteString("backend", cluster.Backend);
        json.WriteString("token", cluster.Token);
        json.WriteString("startedAt", cluster.StartedAt);
        json.WriteString("keepAlive", cluster.KeepAlive.ToString("c", CultureInfo.InvariantCulture));
        json.WriteString("attachedAt", cluster.AttachedAt);
        if (cluster.ReleasedAt is { } released)
        {
            json.WriteString("releasedAt", released);
        }

        if (cluster.HourlyCost is { } hourly)
        {
            json.WriteNumber("hourlyCost", hourly);
        }

        if (cluster.Properties.Count > 0)
        {
            json.WriteStartObject("properties");
            foreach (var (key, value) in cluster.Properties.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
        }

        json.WriteStartArray("workers");
        foreach (var worker in cluster.Workers)
        {
            json.WriteStartObject();
            json.WriteString("address", worker.Address.ToString());
            WriteIfSet(json, "certificateThumbprint", worker.CertificateThumbprint);
            if (worker.ProcessId is { } id)
            {
                json.WriteNumber("processId", id);
            }

            if (worker.ProcessStartedAt is { } startedAt)
            {
                json.WriteString("processStartedAt", startedAt);
            }

            WriteIfSet(json, "instanceId", worker.InstanceId);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <exception cref="JsonException">The bytes are not JSON, or not a registry entry; the message says which member is wrong.</exception>
    public static RegisteredCluster Read(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        return new RegisteredCluster
        {
            Name = Text(root, "name"),
            Backend = Text(root, "backend"),
            Token = Text(root, "token"),
            StartedAt = Time(root, "startedAt"),
            KeepAlive = TimeSpan.TryParseExact(Text(root, "keepAlive"), "c", CultureInfo.InvariantCulture, out var keepAlive) && keepAlive >= TimeSpan.Zero
                ? keepAlive
                : throw new JsonException("'keepAlive' is not a duration such as 00:10:00."),
            AttachedAt = Time(root, "attachedAt"),
            ReleasedAt = root.TryGetProperty("releasedAt", out _) ? Time(root, "releasedAt") : null,
            HourlyCost = root.TryGetProperty("hourlyCost", out var hourly) ? hourly.GetDecimal() : null,
            Workers = [.. Member(root, "workers", JsonValueKind.Array).EnumerateArray().Select(Worker)],
            Properties = root.TryGetProperty("properties", out _) ? Properties(Member(root, "properties", JsonValueKind.Object)) : ImmutableDictionary<string, string>.Empty,
        };
    }

    private static RegisteredWorker Worker(JsonElement worker)
        => new(Uri.TryCreate(Text(worker, "address"), UriKind.Absolute, out var address) ? address : throw new JsonException("A worker's 'address' is not an absolute address."))
        {
            CertificateThumbprint = worker.TryGetProperty("certificateThumbprint", out _) ? Text(worker, "certificateThumbprint") : null,
            ProcessId = worker.TryGetProperty("processId", out var id) ? id.GetInt32() : null,
            ProcessStartedAt = worker.TryGetProperty("processStartedAt", out _) ? Time(worker, "processStartedAt") : null,
            InstanceId = worker.TryGetProperty("instanceId", out _) ? Text(worker, "instanceId") : null,
        };

    private static ImmutableDictionary<string, string> Properties(JsonElement properties)
        => properties.EnumerateObject().ToImmutableDictionary(
            p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new JsonException($"The property '{p.Name}' is not a string."), StringComparer.Ordinal);

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static JsonElement Member(JsonElement element, string name, JsonValueKind kind)
        => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == kind
            ? value
            : throw new JsonException($"'{name}' is missing or not a{kind switch { JsonValueKind.Array => "n array", JsonValueKind.Object => "n object", _ => " string" }}.");

    private static string Text(JsonElement element, string name) => Member(element, name, JsonValueKind.String).GetString()!;

    private static DateTimeOffset Time(JsonElement element, string name)
        => Member(element, name, JsonValueKind.String).TryGetDateTimeOffset(out var time) ? time : throw new JsonException($"'{name}' is not a date and time.");
}
