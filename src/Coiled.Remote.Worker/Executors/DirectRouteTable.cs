using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The daemon's direct routes: tickets handed to clients (each holding its executor for the client), the connections
/// that take them, handed to their executors with the socket itself, and how each route's executor ended, for the
/// client that asks after its route broke. A route holds its executor and counts as a connected client until its
/// executor says it ended; meanwhile the executor reports about once a second whether tasks run, which the daemon's
/// idle timeout reads.
/// </summary>
internal sealed class DirectRouteTable : IDisposable
{
    /// <summary>How long a route's ending is remembered for <see cref="EndedAsync"/>.</summary>
    private static readonly TimeSpan EndingKept = TimeSpan.FromMinutes(5);

    /// <summary>How long <see cref="EndedAsync"/> waits for the executor behind a broken route to exit.</summary>
    private static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(5);

    /// <summary>Most tickets waiting for their connection at once; a client opens one per worker and stream.</summary>
    internal const int MaxWaiting = 1024;

    private readonly ConcurrentDictionary<UInt128, Ticket> _tickets = new();
    private readonly ConcurrentDictionary<UInt128, ExecutorProcess> _executors = new();
    private readonly WorkerActivity _activity;
    private readonly byte[] _certificate;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposed = new();
    private long _handedOff;

    public DirectRouteTable(WorkerActivity activity, byte[]? certificate, TimeProvider time, ILogger logger)
    {
        _activity = activity;
        _certificate = certificate ?? [];
        _time = time;
        _logger = logger;
    }

    /// <summary>Connections handed to executors so far.</summary>
    public long HandedOff => Interlocked.Read(ref _handedOff);

    /// <summary>Tickets whose connection has not arrived yet.</summary>
    public int Waiting => _tickets.Count;

    /// <summary>Issues a ticket for <paramref name="lease"/>, which the route then holds until it ends or the ticket expires.</summary>
    /// <exception cref="Grpc.Core.RpcException"><see cref="Grpc.Core.StatusCode.ResourceExhausted"/>: <see cref="MaxWaiting"/> tickets wait already; the lease is given back.</exception>
    public RouteTicket Issue(ExecutorLease lease, Ready ready)
    {
        if (_tickets.Count >= MaxWaiting)
        {
            lease.Dispose();
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.ResourceExhausted,
                $"{MaxWaiting:N0} direct routes wait for their connection on this worker already; a ticket is good for {DirectRoute.TicketLifetime.TotalSeconds:0} s. Connect with the tickets issued before asking for more."));
        }

        var id = RandomNumberGenerator.GetBytes(DirectRoute.RouteIdBytes);
        var secret = RandomNumberGenerator.GetBytes(DirectRoute.SecretBytes);
        var key = Key(id);
        var ticket = new Ticket(key, lease, secret, _activity.ClientConnected());
        _tickets[key] = ticket;
        _executors[key] = lease.Executor;
        _ = ExpireAsync(key, ticket);
        return new RouteTicket { RouteId = ByteString.CopyFrom(id), Secret = ByteString.CopyFrom(secret), Ready = ready };
    }

    /// <summary>
    /// Hands <paramref name="connection"/>, which opened with <paramref name="routeId"/>, to the executor of that route's
    /// ticket, which is then used up; false when no valid ticket has that id. The caller closes its own copy of the
    /// connection either way.
    /// </summary>
    public bool TryHandOff(ReadOnlySpan<byte> routeId, Socket connection)
    {
        if (routeId.Length != DirectRoute.RouteIdBytes || !_tickets.TryRemove(Key(routeId), out var ticket))
        {
            return false;
        }

        try
        {
            ticket.Lease.Link.SendDirectMode(connection, new RouteHandoff { Secret = ByteString.CopyFrom(ticket.Secret), Certificate = ByteString.CopyFrom(_certificate) });
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            // The executor is gone; the client's connection closes, and the client asks how its executor ended.
            ticket.End();
            Forget(ticket.Key);
            return false;
        }

        Interlocked.Increment(ref _handedOff);
        _ = DedicatedThread.Run("coiled-remote route watch", () => Watch(ticket));
        return true;
    }

    /// <summary>How the executor behind a route ended, waiting a little for it to exit; empty when it still runs or the route is unknown.</summary>
    public Task<string> EndedAsync(ReadOnlySpan<byte> routeId)
        => routeId.Length == DirectRoute.RouteIdBytes && _executors.TryGetValue(Key(routeId), out var executor) ? WaitForExitAsync(executor) : Task.FromResult(string.Empty);

    private async Task<string> WaitForExitAsync(ExecutorProcess executor)
    {
        try
        {
            var how = await executor.Exited.WaitAsync(ExitWait, _time).ConfigureAwait(false);
            return $"its executor (process {executor.ProcessId}) ended: {how}";
        }
        catch (TimeoutException)
        {
            return string.Empty;
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        foreach (var key in _tickets.Keys)
        {
            if (_tickets.TryRemove(key, out var ticket))
            {
                ticket.End();
            }
        }
    }

    private static UInt128 Key(ReadOnlySpan<byte> id) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(id);

    private async Task ExpireAsync(UInt128 key, Ticket ticket)
    {
        try
        {
            await Task.Delay(DirectRoute.TicketLifetime, _time, _disposed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (_tickets.TryRemove(new KeyValuePair<UInt128, Ticket>(key, ticket)))
        {
            _logger.TicketExpired(ticket.Lease.Executor.ProcessId);
            ticket.End();
            Forget(key);
        }
    }

    /// <summary>Reads a handed-off route's reports from its executor until the route ends, blocking.</summary>
    private bool Watch(Ticket ticket)
    {
        var running = 0;
        try
        {
            while (ticket.Lease.Link.Read(ExecutorReport.Parser) is { } frame)
            {
                frame.Payload?.Release();
                ticket.Lease.Executor.ReportedGcPause(frame.Header.GcPauseSeconds);
                var now = Math.Max(0, frame.Header.RunningTasks);
                if (now > running)
                {
                    _activity.TasksForwarded(now - running);
                }
                else
                {
                    _activity.TasksReturned(running - now);
                }

                running = now;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or ObjectDisposedException or InvalidProtocolBufferException)
        {
            // The executor died, or the daemon is stopping.
        }

        _activity.TasksReturned(running);
        ticket.End();
        Forget(ticket.Key);
        return true;
    }

    private void Forget(UInt128 key)
        => _ = Task.Delay(EndingKept, _time, _disposed.Token).ContinueWith(_ => _executors.TryRemove(key, out ExecutorProcess? _), TaskScheduler.Default);

    /// <summary>A route: its executor held for it, its secret, and its place among the daemon's connected clients.</summary>
    private sealed class Ticket(UInt128 key, ExecutorLease lease, byte[] secret, IDisposable client)
    {
        public UInt128 Key { get; } = key;

        public ExecutorLease Lease { get; } = lease;

        public byte[] Secret { get; } = secret;

        public void End()
        {
            Lease.Dispose();
            client.Dispose();
        }
    }
}
