using System.Net;
using Coiled.Remote.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Worker;

/// <summary>
/// A worker: Kestrel serving the worker protocol over HTTP/2 and bulk-data connections on the same port, and the watchdog that
/// stops it when it has had no client or no work for too long. The worker daemon runs one per process; in-process
/// workers run several.
/// </summary>
internal sealed class WorkerHost : IAsyncDisposable
{
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(250);

    private readonly WebApplication _app;
    private readonly WorkerRuntime _runtime;
    private readonly BulkListener _bulk;
    private readonly CancellationTokenSource _watchdogStop = new();
    private readonly Task _watchdog;
    private readonly Cloud.MachineNoticePoller? _notices;
    private int _disposed;

    private WorkerHost(WebApplication app, WorkerRuntime runtime, BulkListener bulk, Uri address, Cloud.MachineNoticePoller? notices)
    {
        _app = app;
        _runtime = runtime;
        _bulk = bulk;
        _notices = notices;
        Address = address;
        _watchdog = WatchAsync(_watchdogStop.Token);
        notices?.Start();
    }

    public Uri Address { get; }

    public string WorkerId => _runtime.WorkerId;

    /// <summary>What the worker's calls share: its stores, activity and bulk-data listener's addresses.</summary>
    public WorkerRuntime Runtime => _runtime;

    /// <summary>The worker's bulk-data connections.</summary>
    public BulkListener BulkConnections => _bulk;

    /// <summary>Completes with the reason when the worker decided to stop (shutdown call or a timeout).</summary>
    public Task<string> StopRequested => _runtime.StopRequested;

    public static async Task<WorkerHost> StartAsync(WorkerHostOptions options, CancellationToken cancellationToken)
    {
        EnsureThreadPool(options.Slots);
        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        var runtime = new WorkerRuntime(options, loggerFactory);
        var bulk = BulkListener.Start(runtime, loggerFactory.CreateLogger<BulkListener>());
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "coiled-remote-worker" });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(runtime);
        builder.Services.AddRoutingCore();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = WireLimits.MaxMessageBytes;
            grpc.MaxSendMessageSize = WireLimits.MaxMessageBytes;
            grpc.EnableDetailedErrors = true;
        });
        if (!options.OwnsProcess)
        {
            // The default lifetime would take over SIGTERM and Ctrl+C of the application that hosts this worker.
            builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        }

        builder.WebHost.UseKestrelCore();

        // Registered last, so Kestrel binds with it: one port, gRPC and bulk data told apart by how they open.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>(new SharedPortTransport(bulk, runtime.Routes, runtime.Connections, loggerFactory, options.TimeProvider));
        ListenOptions? grpcListener = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.Http2.MaxFrameSize = 1024 * 1024;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 64 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 64 * 1024 * 1024;
            // The worker pings its clients so that it notices one that vanished without a word (then its no-client
            // timeout runs); a client stalled by a long garbage collection, a busy machine or a debugger's breakpoint
            // must not be cut off, so the wait for an answer is long.
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(15);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromMinutes(10);
            // The worker's own count (ConnectionLimit) refuses first, as connections are accepted; this is Kestrel's guard.
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            kestrel.Listen(options.Listen, listen =>
            {
                grpcListener = listen;
                listen.Protocols = HttpProtocols.Http2;
                if (options.Certificate is not null)
                {
                    listen.UseHttps(options.Certificate);
                }
            });
        });

        var app = builder.Build();
        var authentication = new TokenAuthentication(options.Token, runtime.Refusals);
        app.Use(authentication.InvokeAsync);
        app.MapGrpcService<WorkerService>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await bulk.DisposeAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            runtime.Routes?.Dispose();
            if (runtime.Executors is { } executors)
            {
                await executors.DisposeAsync().ConfigureAwait(false);
            }

            if (FindListenError(ex) is { } listen)
            {
                throw listen;
            }

            throw;
        }

        // In the daemon, SIGTERM and Ctrl+C (systemctl stop, docker stop, kill) reach the host's lifetime; the worker stops as asked.
        app.Lifetime.ApplicationStopping.Register(() => runtime.RequestStop("the process was asked to stop (SIGTERM or Ctrl+C)"));
        runtime.BulkPort = grpcListener!.IPEndPoint!.Port;

        runtime.BulkLocalName = bulk.LocalName;
        var host = options.Listen.Address.Equals(IPAddress.Any) || options.Listen.Address.Equals(IPAddress.IPv6Any)
            ? "127.0.0.1"
            : options.Listen.Address.ToString();
        var scheme = options.Certificate is null ? "http" : "https";
        var address = new UriBuilder(scheme, host.Contains(':') ? $"[{host}]" : host, grpcListener!.IPEndPoint!.Port).Uri;
        var notices = options.InstanceMetadata is { } metadata
            ? new Cloud.MachineNoticePoller(
                new Cloud.InstanceMetadataClient(metadata, options.TimeProvider), runtime.Notices, options.InstanceMetadataPollPeriod, options.TimeProvider,
                loggerFactory.CreateLogger<Cloud.MachineNoticePoller>(), runtime.WorkerId)
            : null;
        return new WorkerHost(app, runtime, bulk, address, notices);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _runtime.RequestStop("disposed");
        _watchdogStop.Cancel();
        await _watchdog.ConfigureAwait(false);
        if (_notices is not null)
        {
            await _notices.DisposeAsync().ConfigureAwait(false);
        }

        await _bulk.DisposeAsync().ConfigureAwait(false);
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(grace.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _runtime.Routes?.Dispose();
        if (_runtime.Executors is { } executors)
        {
            // Ending an environment ends its process: everything its tasks loaded and allocated goes with it.
            await executors.DisposeAsync().ConfigureAwait(false);
        }

        _runtime.StagedValues.Dispose();

        _watchdogStop.Dispose();
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        var options = _runtime.Options;
        using var timer = new PeriodicTimer(WatchdogPeriod, options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var withoutClient = _runtime.Activity.WithoutClient();
                var (noClientTimeout, name) = _runtime.Activity.ClientSeen || options.FirstClientTimeout is not { } first
                    ? (options.NoClientTimeout, "no-client timeout")
                    : (first, "first-client timeout");
                if (noClientTimeout != Timeout.InfiniteTimeSpan && withoutClient >= noClientTimeout)
                {
                    _runtime.RequestStop($"no client connected for {withoutClient.TotalSeconds:0} s ({name} {noClientTimeout.TotalSeconds:0} s)");
                }

                var withoutWork = _runtime.Activity.WithoutWork();
                if (options.IdleTimeout != Timeout.InfiniteTimeSpan && withoutWork >= options.IdleTimeout)
                {
                    _runtime.RequestStop($"no work for {withoutWork.TotalSeconds:0} s (idle timeout {options.IdleTimeout.TotalSeconds:0} s)");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>The listening error within what Kestrel threw while binding, if that is why it failed.</summary>
    private static WorkerListenException? FindListenError(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is WorkerListenException listen)
            {
                return listen;
            }
        }

        return null;
    }

    private static void EnsureThreadPool(int slots)
    {
        // Slots may block their threads in synchronous [Remote] methods; keep threads free for Kestrel and gRPC.
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = slots + Environment.ProcessorCount + 4;
        if (workers < wanted)
        {
            ThreadPool.SetMinThreads(wanted, io);
        }
    }
}
