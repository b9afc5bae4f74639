using System.Globalization;
using System.Text.Json;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Cloud;

/// <summary>
/// Asks the machine's instance metadata, every poll period, whether EC2 scheduled the machine's interruption (a spot
/// instance's two-minute notice, <c>spot/instance-action</c>) or recommends moving work off it (a rebalance
/// recommendation), and records what it says in <see cref="MachineNotices"/>. A service that does not answer is
/// logged once, until it answers again; polling goes on either way.
/// </summary>
internal sealed class MachineNoticePoller : IAsyncDisposable
{
    /// <summary>How often the metadata is read by default: EC2 gives two minutes' notice and documents polling every 5 s.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromSeconds(5);

    public const string InterruptionPath = "latest/meta-data/spot/instance-action";
    public const string RebalancePath = "latest/meta-data/events/recommendations/rebalance";

    /// <summary>How long after the notice EC2 reclaims a spot instance, for a notice whose time cannot be read.</summary>
    private static readonly TimeSpan NoticeLead = TimeSpan.FromMinutes(2);

    private readonly InstanceMetadataClient _client;
    private readonly MachineNotices _notices;
    private readonly TimeSpan _period;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _workerId;
    private readonly CancellationTokenSource _stop = new();
    private Task _polling = Task.CompletedTask;
    private bool _unreachable;

    /// <param name="client">The machine's instance metadata service.</param>
    /// <param name="notices">Where what it says is recorded.</param>
    /// <param name="period">Between two polls.</param>
    /// <param name="time">The clock polls are timed on.</param>
    /// <param name="logger">Where notices and an unreachable service are logged.</param>
    /// <param name="workerId">The worker, named in the log.</param>
    public MachineNoticePoller(InstanceMetadataClient client, MachineNotices notices, TimeSpan period, TimeProvider time, ILogger logger, string workerId)
    {
        _client = client;
        _notices = notices;
        _period = period;
        _time = time;
        _logger = logger;
        _workerId = workerId;
    }

    /// <summary>Polls now and then every period, until disposed.</summary>
    public void Start() => _polling = Task.Run(PollAsync);

    /// <summary>One poll: reads both notices and records what is new; an unreachable service is logged (once) and is no error.</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var interruption = await _client.GetAsync(InterruptionPath, cancellationToken).ConfigureAwait(false);
            var rebalance = await _client.GetAsync(RebalancePath, cancellationToken).ConfigureAwait(false);
            if (_unreachable)
            {
                _unreachable = false;
                _logger.InstanceMetadataReachable(_workerId);
            }

            if (interruption is not null && _notices.Interrupt(ReadInterruption(interruption)) && _notices.Interruption is { } notice)
            {
                _logger.MachineInterrupted(_workerId, notice.Action, notice.TimeText);
            }

            if (rebalance is not null && _notices.RecommendRebalance(ReadRebalance(rebalance)) && _notices.Rebalance is { } recommended)
            {
                _logger.RebalanceRecommended(_workerId, recommended.TimeText);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            if (!_unreachable)
            {
                _unreachable = true;
                _logger.InstanceMetadataUnreachable(_workerId, ex.Message, _period.TotalSeconds);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _polling.ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }

    /// <summary><c>{"action":"terminate","time":"2026-12-01T12:00:00Z"}</c>. A notice that cannot be read still counts: moving work off a machine that may go is the safe side.</summary>
    internal MachineNotice ReadInterruption(string json)
    {
        var (action, time) = (Field(json, "action"), Field(json, "time"));
        return new MachineNotice
        {
            Action = string.IsNullOrEmpty(action) ? "terminate" : action,
            TimeUnixMilliseconds = (ParseTime(time) ?? _time.GetUtcNow() + NoticeLead).ToUnixTimeMilliseconds(),
        };
    }

    /// <summary><c>{"noticeTime":"2026-12-01T11:58:00Z"}</c>.</summary>
    internal MachineNotice ReadRebalance(string json)
        => new() { TimeUnixMilliseconds = (ParseTime(Field(json, "noticeTime")) ?? _time.GetUtcNow()).ToUnixTimeMilliseconds() };

    private async Task PollAsync()
    {
        using var timer = new PeriodicTimer(_period, _time);
        try
        {
            do
            {
                await PollOnceAsync(_stop.Token).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private static string? Field(string json, string name)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static DateTimeOffset? ParseTime(string? text)
        => DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time) ? time : null;
}
