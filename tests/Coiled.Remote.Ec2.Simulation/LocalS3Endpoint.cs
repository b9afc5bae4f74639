using System.Diagnostics;
using Amazon.S3;
using Amazon.S3.Model;

namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// A local S3-compatible endpoint: s3rver, the npm package, run by node (on 127.0.0.1 or a sandbox network's host address) with the bucket settings it lacks
/// (local-s3.js). Its data lives in a temporary folder deleted on dispose; the node process ends with it (or with this
/// process, when its standard input closes).
/// </summary>
public sealed class LocalS3Endpoint : IAsyncDisposable
{
    public const string AccessKey = "AKIDLOCALEC2TEST";
    public const string SecretKey = "local-ec2-secret-key";

    private readonly Process _node;
    private readonly string _data;

    private LocalS3Endpoint(Process node, string data, Uri url)
    {
        _node = node;
        _data = data;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>Starts s3rver listening on <paramref name="address"/> (default 127.0.0.1).</summary>
    public static async Task<LocalS3Endpoint> StartAsync(System.Net.IPAddress? address = null)
    {
        address ??= System.Net.IPAddress.Loopback;
        var module = S3rver.ModuleDirectory() ?? throw new InvalidOperationException(S3rver.Missing);
        var data = Directory.CreateTempSubdirectory("coiled-remote-local-s3-").FullName;
        var start = new ProcessStartInfo(S3rver.Node()!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "LocalS3", "local-s3.js"), module, data, AccessKey, SecretKey, address.ToString() })
        {
            start.ArgumentList.Add(argument);
        }

        var node = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var line = await node.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"s3rver did not start: {line}{await node.StandardError.ReadToEndAsync(timeout.Token)}");
            }

            _ = node.StandardError.ReadToEndAsync();
            return new LocalS3Endpoint(node, data, new Uri($"http://{address}:{line["listening ".Length..]}/"));
        }
        catch
        {
            node.Kill(entireProcessTree: true);
            node.Dispose();
            Directory.Delete(data, recursive: true);
            throw;
        }
    }

    /// <summary>A client of this endpoint, for the tests' own looks into the buckets.</summary>
    public AmazonS3Client Client() => new(
        new Amazon.Runtime.BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config
        {
            ServiceURL = Url.AbsoluteUri,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>The keys and sizes of every object in <paramref name="bucket"/>; none when there is no such bucket.</summary>
    public async Task<IReadOnlyDictionary<string, long>> ObjectsAsync(string bucket)
    {
        using var client = Client();
        try
        {
            var listed = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
            return (listed.S3Objects ?? []).ToDictionary(o => o.Key, o => o.Size ?? 0, StringComparer.Ordinal);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode == "NoSuchBucket")
        {
            return new Dictionary<string, long>();
        }
    }

    /// <summary>Runs the buckets' lifecycle rules as S3 does, as if it were <paramref name="now"/>; returns how many objects expired.</summary>
    public async Task<int> ExpireAsync(DateTimeOffset now)
    {
        using var http = new HttpClient();
        var answer = await http.PostAsync(new Uri(Url, $"_expire?now={Uri.EscapeDataString(now.UtcDateTime.ToString("O"))}"), null);
        answer.EnsureSuccessStatusCode();
        using var json = System.Text.Json.JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("expired").GetInt32();
    }

    /// <summary>Makes <paramref name="bucket"/> another account's bucket that lets everyone use it.</summary>
    public async Task MakeForeignAsync(string bucket)
    {
        using var http = new HttpClient();
        (await http.PostAsync(new Uri(Url, $"_foreign?bucket={Uri.EscapeDataString(bucket)}"), null)).EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _node.StandardInput.Close();
            if (!_node.WaitForExit(5000))
            {
                _node.Kill(entireProcessTree: true);
            }

            await _node.WaitForExitAsync();
        }
        finally
        {
            _node.Dispose();
            Directory.Delete(_data, recursive: true);
        }
    }
}
