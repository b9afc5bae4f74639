using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// A fake of EC2's instance metadata service for simulated instances, speaking IMDSv2 over real HTTP: a session token
/// from <c>PUT /latest/api/token</c> (with a lifetime of 1 to 21600 s), and 401 for a GET without a valid one. Each
/// instance reads its own service below <see cref="AddressFor"/> (the real one is at http://169.254.169.254 on every
/// machine). It answers <c>spot/instance-action</c> and <c>events/recommendations/rebalance</c> with 404 until a test
/// announces a notice (<see cref="Interrupt"/>, <see cref="RecommendRebalance"/>), then with EC2's JSON.
/// </summary>
public sealed class LocalInstanceMetadata : IAsyncDisposable
{
    private const int MaxTokenSeconds = 21600;
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Instance> _instances = new(StringComparer.Ordinal);

    private LocalInstanceMetadata(WebApplication app) => _app = app;

    /// <summary>Where the service listens; instances read it below <see cref="AddressFor"/>.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>Starts the service on <paramref name="address"/> (loopback, or a sandbox network's bridge address), on a free port.</summary>
    public static async Task<LocalInstanceMetadata> StartAsync(IPAddress address)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(address, 0));
        var app = builder.Build();
        var metadata = new LocalInstanceMetadata(app);
        app.MapPut("/{instance}/latest/api/token", metadata.IssueToken);
        app.MapGet("/{instance}/latest/meta-data/{**path}", metadata.Read);
        await app.StartAsync();
        metadata.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return metadata;
    }

    /// <summary>The instance's own metadata service, as its worker's <c>--instance-metadata</c> takes it.</summary>
    public Uri AddressFor(string instanceId) => new(Url, Uri.EscapeDataString(instanceId) + "/");

    /// <summary>EC2 schedules the instance's interruption: <c>spot/instance-action</c> answers from now on.</summary>
    public void Interrupt(string instanceId, string action = "terminate", DateTimeOffset? time = null)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            instance.Interruption = JsonSerializer.Serialize(new { action, time = Text(time ?? DateTimeOffset.UtcNow.AddMinutes(2)) });
        }
    }

    /// <summary>EC2 recommends moving work off the instance: <c>events/recommendations/rebalance</c> answers from now on.</summary>
    public void RecommendRebalance(string instanceId, DateTimeOffset? time = null)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            instance.Rebalance = JsonSerializer.Serialize(new { noticeTime = Text(time ?? DateTimeOffset.UtcNow) });
        }
    }

    /// <summary>While set, the instance's service drops every connection without an answer, as an unreachable one does.</summary>
    public void SetUnreachable(string instanceId, bool unreachable)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            instance.Unreachable = unreachable;
        }
    }

    /// <summary>Every token issued so far to the instance stops being valid, as when the service restarts.</summary>
    public void ExpireTokens(string instanceId)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            instance.Tokens.Clear();
        }
    }

    /// <summary>When the instance first read its interruption notice; null until it did.</summary>
    public DateTimeOffset? InterruptionReadAt(string instanceId)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            return instance.InterruptionReadAt;
        }
    }

    /// <summary>What the instance's service was asked, in order: <c>PUT token</c>, <c>GET spot/instance-action 404</c>, ...</summary>
    public IReadOnlyList<string> Requests(string instanceId)
    {
        var instance = For(instanceId);
        lock (instance)
        {
            return [.. instance.Requests];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string Text(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private Instance For(string instanceId) => _instances.GetOrAdd(instanceId, _ => new Instance());

    private IResult IssueToken(string instance, HttpContext context)
    {
        var state = For(instance);
        lock (state)
        {
            if (state.Unreachable)
            {
                context.Abort();
                return Results.Empty;
            }

            state.Requests.Add("PUT token");
            if (!int.TryParse(context.Request.Headers["X-aws-ec2-metadata-token-ttl-seconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                || seconds is < 1 or > MaxTokenSeconds)
            {
                return Results.BadRequest();
            }

            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
            state.Tokens[token] = DateTimeOffset.UtcNow.AddSeconds(seconds);
            return Results.Text(token);
        }
    }

    private IResult Read(string instance, string path, HttpContext context)
    {
        var state = For(instance);
        lock (state)
        {
            if (state.Unreachable)
            {
                context.Abort();
                return Results.Empty;
            }

            if (!state.Tokens.TryGetValue(context.Request.Headers["X-aws-ec2-metadata-token"].ToString(), out var expires) || expires < DateTimeOffset.UtcNow)
            {
                state.Requests.Add($"GET {path} 401");
                return Results.Unauthorized();
            }

            var answer = path switch
            {
                "spot/instance-action" => state.Interruption,
                "events/recommendations/rebalance" => state.Rebalance,
                _ => null,
            };
            state.Requests.Add($"GET {path} {(answer is null ? 404 : 200)}");
            if (answer is not null && path == "spot/instance-action")
            {
                state.InterruptionReadAt ??= DateTimeOffset.UtcNow;
            }

            return answer is null ? Results.NotFound() : Results.Text(answer, "text/plain");
        }
    }

    private sealed class Instance
    {
        public Dictionary<string, DateTimeOffset> Tokens { get; } = new(StringComparer.Ordinal);

        public List<string> Requests { get; } = [];

        public string? Interruption { get; set; }

        public string? Rebalance { get; set; }

        public bool Unreachable { get; set; }

        public DateTimeOffset? InterruptionReadAt { get; set; }
    }
}
