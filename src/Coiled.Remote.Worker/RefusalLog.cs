using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// Logs refused connections and calls (a wrong or missing token) as warnings, at most once per <see cref="Period"/> per
/// remote address with how many there were since the last line, so that a peer knocking without the token can neither
/// go unnoticed nor flood the log.
/// </summary>
internal sealed class RefusalLog(ILogger logger, TimeProvider time)
{
    /// <summary>The shortest time between two lines about one address.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    /// <summary>Most addresses (per kind of refusal) remembered; beyond that the oldest are forgotten (they log again on their next refusal).</summary>
    private const int MaxAddresses = 4096;

    private readonly object _lock = new();
    private readonly Dictionary<(string Address, string What), Entry> _addresses = [];

    /// <summary>Counts a refusal from <paramref name="remote"/> of <paramref name="what"/>, and logs it unless that address was logged within <see cref="Period"/>.</summary>
    /// <param name="remote">The peer's address, or null for one on this machine (a Unix socket).</param>
    /// <param name="what">What was refused, in the plural: "call(s)", "bulk-data connection(s)".</param>
    /// <param name="why">Why, in a few words.</param>
    public void Refused(System.Net.IPAddress? remote, string what, string why)
    {
        var address = remote?.ToString() ?? "this machine (Unix socket)";
        var now = time.GetUtcNow();
        int count;
        lock (_lock)
        {
            if (!_addresses.TryGetValue((address, what), out var entry))
            {
                if (_addresses.Count >= MaxAddresses)
                {
                    _addresses.Remove(_addresses.MinBy(pair => pair.Value.LastLogged).Key);
                }

                entry = new Entry { LastLogged = DateTimeOffset.MinValue };
                _addresses[(address, what)] = entry;
            }

            entry.Unlogged++;
            if (now - entry.LastLogged < Period)
            {
                return;
            }

            count = entry.Unlogged;
            entry.Unlogged = 0;
            entry.LastLogged = now;
        }

        logger.Refused(count, what, address, why);
    }

    private sealed class Entry
    {
        public DateTimeOffset LastLogged { get; set; }

        public int Unlogged { get; set; }
    }
}
