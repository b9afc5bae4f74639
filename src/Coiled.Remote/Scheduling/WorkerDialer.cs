using System.Net.Http;
using Coiled.Remote.Security;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Reaches a worker: an HTTP/2 channel whose keepalive pings back up the heartbeats, the worker's certificate pinned
/// when it has one, and a first answer (hello) awaited no longer than the worker timeout allows.
/// </summary>
internal static class WorkerDialer
{
    /// <summary>The shortest wait for a worker's first answer, whatever <see cref="ClusterOptions.WorkerTimeout"/> says.</summary>
    internal static readonly TimeSpan FirstAnswerAllowance = TimeSpan.FromSeconds(10);

    /// <summary>The longest wait between two HTTP/2 keepalive pings: often enough for middleboxes to keep an idle connection.</summary>
    private static readonly TimeSpan LongestPingDelay = TimeSpan.FromSeconds(15);

    /// <summary>The longest an unanswered ping may wait for a finite worker timeout (longer ones would overflow): a day.</summary>
    private static readonly TimeSpan LongestPingTimeout = TimeSpan.FromDays(1);

    private static readonly TimeSpan HelloCheckPeriod = TimeSpan.FromMilliseconds(100);

    /// <summary>Opens a channel to the worker and says hello; the channel is the caller's once this returns.</summary>
    /// <param name="endpoint">The worker.</param>
    /// <param name="token">The cluster token.</param>
    /// <param name="workerTimeout">How long the worker may stay silent, at start and later, before its connection is given up.</param>
    /// <param name="time">The clock the connection's timeouts and heartbeats are timed on.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static async Task<(GrpcChannel Channel, CallOptions Call, HelloReply Hello)> DialAsync(
        WorkerEndpoint endpoint, string token, TimeSpan workerTimeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
            // Pings go out only when nothing came from the worker for a while (its heartbeats normally arrive twice a
            // second), and keep an idle connection open through middleboxes. Silence is judged by the heartbeats; an
            // unanswered ping ends the connection only well after that, as a backstop, so a busy worker or a long
            // garbage collection is never taken for a dead peer. SocketsHttpHandler refuses a ping delay under one second.
            KeepAlivePingDelay = PingDelay(workerTimeout),
            // Never sooner than a first answer may take.
            KeepAlivePingTimeout = workerTimeout == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan
                : workerTimeout > LongestPingTimeout / 2 ? LongestPingTimeout
                : workerTimeout * 2 > FirstAnswerAllowance ? workerTimeout * 2 : FirstAnswerAllowance + TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        if (endpoint.CertificateThumbprint is not null && endpoint.Address.Scheme != Uri.UriSchemeHttps)
        {
            throw new ClusterStartException(
                $"Worker {endpoint.Address} has a CertificateThumbprint to pin but a plaintext address: use https://{endpoint.Address.Authority} for a worker started with --cert, or no thumbprint for one without.");
        }

        if (endpoint.CertificateThumbprint is { } pinned)
        {
            // Trust exactly the cluster's own certificate: no certificate authority, no host name check.
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => ClusterCertificate.Matches(certificate, pinned);
        }
        else if (endpoint.Address.Scheme == Uri.UriSchemeHttps)
        {
            throw new ClusterStartException($"Worker {endpoint.Address} uses TLS but its endpoint has no CertificateThumbprint to pin.");
        }

        var channel = GrpcChannel.ForAddress(endpoint.Address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = WireLimits.MaxMessageBytes,
            MaxSendMessageSize = WireLimits.MaxMessageBytes,
        });
        var call = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + token } });
        try
        {
            var client = new Transport.Protocol.Worker.WorkerClient(channel);

            // A worker that does not answer its first call within the worker timeout is as silent as one that stops later,
            // except that a process just started on a busy machine may need a few seconds to compile its first call.
            var firstAnswer = workerTimeout == Timeout.InfiniteTimeSpan || workerTimeout >= FirstAnswerAllowance ? workerTimeout : FirstAnswerAllowance;
            using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            HelloReply hello;
            try
            {
                var asked = client.HelloAsync(
                    new HelloRequest { ProtocolVersion = ProtocolVersion.Current, ClientName = Environment.MachineName },
                    call.WithCancellationToken(answer.Token)).ResponseAsync;
                await CancelUnlessAnsweredAsync(asked, answer, firstAnswer, time).ConfigureAwait(false);
                hello = await asked.ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"the worker did not answer within {firstAnswer.TotalSeconds:0.#} s (ClusterOptions.WorkerTimeout, at least {FirstAnswerAllowance.TotalSeconds:0} s for a first answer)", ex);
            }

            return (channel, call, hello);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Cancels <paramref name="cancel"/> when <paramref name="call"/> has not completed within <paramref name="timeout"/>,
    /// counted, like heartbeats, only from the last moment this process was seen keeping up (<see cref="StallMonitor"/>).
    /// </summary>
    private static async Task CancelUnlessAnsweredAsync(Task call, CancellationTokenSource cancel, TimeSpan timeout, TimeProvider time)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        var started = time.GetTimestamp();
        var stalls = StallMonitor.For(time);
        while (!call.IsCompleted)
        {
            var waited = time.GetElapsedTime(Math.Max(started, stalls?.LastStalled ?? 0));
            if (waited >= timeout)
            {
                cancel.Cancel();
                return;
            }

            var step = timeout - waited < HelloCheckPeriod ? timeout - waited : HelloCheckPeriod;
            await Task.WhenAny(call, Task.Delay(step, time, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    /// <summary>How often to ping the worker: a few times per worker timeout, between one and fifteen seconds.</summary>
    private static TimeSpan PingDelay(TimeSpan workerTimeout)
        => workerTimeout == Timeout.InfiniteTimeSpan
            ? LongestPingDelay
            : TimeSpan.FromTicks(Math.Clamp(workerTimeout.Ticks / 3, TimeSpan.TicksPerSecond, LongestPingDelay.Ticks));
}
