using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// The worker's bulk-data connections: plain sockets (TLS with the worker's certificate when it has one) that receive
/// large task arguments straight into the array the task will read, with no HTTP framing and no intermediate buffer.
/// They arrive on the worker's one port, handed over by <see cref="SharedPortListener"/> when their first byte says so,
/// and, on Linux without TLS, on an abstract Unix socket (no file to clean up) that clients on the same machine use to
/// skip the TCP stack. After the preamble and the cluster token, each frame is a blob handed to <see cref="BulkStore"/>
/// for the task batch that names it, read into memory taken as its bytes arrive; a <see cref="BulkConnectionWatch"/>
/// ends a connection that is idle or stalled inside a blob.
/// </summary>
internal sealed class BulkListener : IAsyncDisposable
{
    /// <summary>A connection must present its preamble and the token within this time of connecting.</summary>
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket? _local;
    private readonly WorkerRuntime _runtime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly ConcurrentDictionary<Socket, BulkActivity> _activities = new();
    private readonly Task _accepting;

    private BulkListener(Socket? local, string? localName, WorkerRuntime runtime, ILogger logger)
    {
        _local = local;
        _runtime = runtime;
        _logger = logger;
        LocalName = localName;
        _accepting = local is null ? Task.CompletedTask : Task.Run(() => AcceptAsync(local));
    }

    /// <summary>The abstract Unix socket's name (without the leading NUL), or null when there is none.</summary>
    public string? LocalName { get; }

    /// <summary>What each authenticated connection is doing now.</summary>
    public IReadOnlyList<BulkActivity> Activities => [.. _activities.Values];

    /// <summary>Starts serving: on Linux without TLS, binds an abstract Unix socket and accepts connections on it.</summary>
    public static BulkListener Start(WorkerRuntime runtime, ILogger logger)
    {
        var (local, localName) = runtime.Options.Certificate is null && OperatingSystem.IsLinux() ? BindLocal(runtime, logger) : (null, null);
        return new BulkListener(local, localName, runtime, logger);
    }

    /// <summary>
    /// Serves a connection that arrived on the worker's port and starts with the bulk-data preamble; takes ownership of
    /// it, and of the place it holds in <paramref name="limit"/>, given back when it ends.
    /// </summary>
    public void Serve(Socket connection, ConnectionLimit limit)
    {
        if (_stop.IsCancellationRequested)
        {
            connection.Dispose();
            limit.Release();
            return;
        }

        // Result blobs go back on this connection: with the default buffer (about 200 KiB) a 100 MB result stops and
        // waits for the client to read some 500 times, each a wake-up of both processes. The client's side uses the
        // same size for arguments.
        connection.SendBufferSize = 4 * 1024 * 1024;
        var serving = Task.Run(() => ServeAsync(connection));
        _connections[connection] = serving;
        _ = serving.ContinueWith(
            _ =>
            {
                _connections.TryRemove(connection, out Task? _);
                limit.Release();
            },
            TaskScheduler.Default);
    }

    /// <summary>The abstract Unix socket for clients on this machine; none if it cannot be bound (TCP still serves them).</summary>
    private static (Socket? Socket, string? Name) BindLocal(WorkerRuntime runtime, ILogger logger)
    {
        var name = $"coiled-remote-bulk-{runtime.WorkerId}-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(BulkFrame.LocalEndPoint(name));
            socket.Listen(64);
            return (socket, name);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            logger.BulkOverTcpOnly(runtime.WorkerId, ex.Message);
            return (null, null);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _local?.Dispose();
        await _accepting.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }

        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (await SocketAccepting.NextAsync(listener, _logger, "a bulk-data connection", _stop.Token).ConfigureAwait(false) is { } connection)
        {
            if (_runtime.Connections.TryTake(remote: null))
            {
                Serve(connection, _runtime.Connections);
            }
            else
            {
                connection.Dispose();
            }
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        var remote = connection.RemoteEndPoint;
        Stream stream = new NetworkStream(connection, ownsSocket: true);
        ResultSink? sink = null;
        ulong channel = 0;
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                handshake.CancelAfter(HandshakeTimeout);
                var preamble = new byte[BulkFrame.Preamble.Length];
                if (await stream.ReadAtLeastAsync(preamble, preamble.Length, throwOnEndOfStream: false, handshake.Token).ConfigureAwait(false) < preamble.Length
                    || !preamble.AsSpan().SequenceEqual(BulkFrame.Preamble))
                {
                    _logger.BulkPreambleMissing(_runtime.WorkerId, remote);
                    return;
                }

                if (_runtime.Options.Certificate is { } certificate)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = tls;
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, handshake.Token).ConfigureAwait(false);
                }

                if (!await AuthenticateAsync(stream, handshake.Token).ConfigureAwait(false))
                {
                    _runtime.Refusals.Refused((remote as System.Net.IPEndPoint)?.Address, "bulk-data connection(s)", "wrong or missing token");
                    return;
                }

                var channelBytes = new byte[8];
                await stream.ReadExactlyAsync(channelBytes, handshake.Token).ConfigureAwait(false);
                channel = BinaryPrimitives.ReadUInt64LittleEndian(channelBytes);
            }

            using var watch = new BulkConnectionWatch(
                _runtime.Options.BulkIdleTimeout, _runtime.Options.BulkStallTimeout, _runtime.Options.TimeProvider, () => SayGoodbyeAsync(channel, sink!), why =>
                {
                    _logger.BulkConnectionClosed(_runtime.WorkerId, remote, why);
                    stream.Dispose();
                });
            var activity = watch.Activity;
            _activities[connection] = activity;
            sink = new ResultSink(stream, activity);
            if (channel != 0)
            {
                // The client's task stream that names this channel sends its large result batches back here.
                _runtime.ResultChannels[channel] = sink;
            }

            // Each blob lands directly in the (pooled) array its tasks read their arguments from, taken as it arrives.
            while (await BulkFrame.ReadBlobHeaderAsync(stream, _runtime.Options.MaxResultBytes, activity, _stop.Token).ConfigureAwait(false) is (var id, var length))
            {
                if (_runtime.Bulk.Admits(id, length))
                {
                    _runtime.Bulk.Deliver(id, await BulkFrame.ReadBlobBodyAsync(stream, id, length, activity, _stop.Token).ConfigureAwait(false));
                }
                else
                {
                    _runtime.Refusals.Refused(
                        (remote as System.Net.IPEndPoint)?.Address,
                        "bulk blob(s)",
                        $"blobs no task batch has claimed already hold {_runtime.Bulk.UnclaimedBytes:N0} of the {_runtime.Options.MaxUnclaimedBulkBytes:N0} bytes a worker keeps for them");
                    await BulkFrame.SkipBlobBodyAsync(stream, id, length, activity, _stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (InvalidDataException ex)
        {
            _logger.BulkConnectionClosed(_runtime.WorkerId, remote, ex.Message);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            _logger.BulkTokenMissing(_runtime.WorkerId, remote, HandshakeTimeout.TotalSeconds);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException or AuthenticationException)
        {
            // The client went away, failed its TLS handshake, or the worker is stopping.
        }
        finally
        {
            _activities.TryRemove(connection, out _);
            if (sink is not null)
            {
                _runtime.ResultChannels.TryRemove(KeyValuePair.Create(channel, sink));
                sink.Close();
            }

            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>An idle connection's goodbye: its results go in the task stream from now on, and the client opens a new connection when it needs one.</summary>
    private async Task SayGoodbyeAsync(ulong channel, ResultSink sink)
    {
        _runtime.ResultChannels.TryRemove(KeyValuePair.Create(channel, sink));
        if (await sink.SayGoodbyeAsync().ConfigureAwait(false))
        {
            _logger.BulkIdleGoodbye(_runtime.WorkerId, _runtime.Options.BulkIdleTimeout.TotalSeconds);
        }
    }

    private async Task<bool> AuthenticateAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[2];
        if (await stream.ReadAtLeastAsync(header, 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < 2)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(header);
        if (length > BulkFrame.MaxTokenBytes)
        {
            return false;
        }

        var token = new byte[length];
        if (await stream.ReadAtLeastAsync(token, length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < length)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(token, Encoding.UTF8.GetBytes(_runtime.Options.Token));
    }
}
