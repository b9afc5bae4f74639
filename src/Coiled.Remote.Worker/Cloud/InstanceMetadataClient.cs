using System.Net;

namespace Coiled.Remote.Worker.Cloud;

/// <summary>
/// Reads the machine's instance metadata service the way EC2 requires it with IMDSv2: a session token first
/// (<c>PUT /latest/api/token</c>), then GETs that carry it. The token is kept until a minute before it expires, and
/// taken again when the service answers 401 (it expired early, or the service restarted).
/// </summary>
internal sealed class InstanceMetadataClient : IDisposable
{
    /// <summary>The address of EC2's instance metadata service, from inside an instance.</summary>
    public static readonly Uri Ec2Address = new("http://169.254.169.254");

    /// <summary>How long a session token is asked to last: six hours, the most IMDSv2 grants.</summary>
    public static readonly TimeSpan TokenLifetime = TimeSpan.FromHours(6);

    /// <summary>The service is on the machine itself: a request that takes longer than this finds nothing.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    private const string TokenPath = "latest/api/token";
    private const string TokenHeader = "X-aws-ec2-metadata-token";
    private const string TokenLifetimeHeader = "X-aws-ec2-metadata-token-ttl-seconds";
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(1);

    private readonly HttpClient _http;
    private readonly Uri _address;
    private readonly TimeProvider _time;
    private string? _token;
    private long _tokenTakenAt;

    /// <param name="address">The service's address, such as <see cref="Ec2Address"/>; paths are taken below it.</param>
    /// <param name="time">The clock the token's lifetime and the requests' timeout are timed on.</param>
    public InstanceMetadataClient(Uri address, TimeProvider time)
    {
        // Never through a proxy: the service answers only on the machine's own link.
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = RequestTimeout }) { Timeout = Timeout.InfiniteTimeSpan };
        _address = new Uri(address.AbsoluteUri.TrimEnd('/') + "/");
        _time = time;
    }

    /// <summary>Session tokens taken so far.</summary>
    public int TokensTaken { get; private set; }

    /// <summary>The text at <paramref name="path"/> (relative, such as <c>latest/meta-data/spot/instance-action</c>); null when the service has none (404).</summary>
    /// <exception cref="HttpRequestException">The service did not answer, or answered with another status.</exception>
    /// <exception cref="TimeoutException">The service took longer than <see cref="RequestTimeout"/>.</exception>
    public async Task<string?> GetAsync(string path, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var token = await TokenAsync(cancellationToken).ConfigureAwait(false);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_address, path));
            request.Headers.Add(TokenHeader, token);
            using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            switch (response.StatusCode)
            {
                case HttpStatusCode.Unauthorized when attempt == 1:
                    _token = null;
                    continue;
                case HttpStatusCode.NotFound:
                    return null;
                case HttpStatusCode.OK:
                    return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                default:
                    throw new HttpRequestException($"GET {request.RequestUri} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            }
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<string> TokenAsync(CancellationToken cancellationToken)
    {
        if (_token is { } token && _time.GetElapsedTime(_tokenTakenAt) < TokenLifetime - RenewBefore)
        {
            return token;
        }

        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(_address, TokenPath));
        request.Headers.Add(TokenLifetimeHeader, ((long)TokenLifetime.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var takenAt = _time.GetTimestamp();
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"PUT {request.RequestUri} (an IMDSv2 session token) answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        }

        _token = (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
        _tokenTakenAt = takenAt;
        TokensTaken++;
        return _token;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await _http.SendAsync(request, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The request's own timeout, or the handler's connect timeout: either way the service did not answer in time.
            throw new TimeoutException($"{request.Method} {request.RequestUri} did not answer within {RequestTimeout.TotalSeconds:0} s");
        }
    }
}
