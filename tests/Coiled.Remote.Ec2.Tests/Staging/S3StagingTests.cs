using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Ec2.Tests.Staging;

/// <summary>
/// What the staging bucket is asked, against an S3 client that answers as told: content is uploaded again unless the
/// bucket holds those very bytes, recently enough not to expire while used; one upload serves every worker waiting for
/// it whatever happens to any one of them; and every call names the account that must own the bucket.
/// </summary>
public sealed class S3StagingTests : IDisposable
{
    private const string Account = "123456789012";
    private readonly string _file = Path.GetTempFileName();
    private readonly string _sha256;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero));

    public S3StagingTests()
    {
        File.WriteAllBytes(_file, Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray());
        _sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_file)));
    }

    public void Dispose() => File.Delete(_file);

    [Fact]
    public async Task StageFileAsync_FreshObjectWithTheContentsChecksum_IsNotUploadedAgain()
    {
        var (client, s3) = FakeS3.Create();
        s3.Head = (_, _) => Task.FromResult(Metadata(1000, _time.GetUtcNow().AddHours(-1), _sha256));

        await Staging(client).StageFileAsync(_file, _sha256, CancellationToken.None);

        s3.Puts.Should().Be(0);
    }

    [Fact]
    public async Task StageFileAsync_ObjectOfTheRightSizeButAnotherChecksum_IsUploadedAgain()
    {
        var (client, s3) = FakeS3.Create();
        s3.Head = (_, _) => Task.FromResult(Metadata(1000, _time.GetUtcNow().AddMinutes(-5), new string('0', 64)));

        await Staging(client).StageFileAsync(_file, _sha256, CancellationToken.None);

        s3.Puts.Should().Be(1, "an object of the right size whose bytes are not the content's would fail every instance's check, on every start");
    }

    [Fact]
    public async Task StageFileAsync_ObjectAboutToExpire_IsUploadedAgain()
    {
        var (client, s3) = FakeS3.Create();
        s3.Head = (_, _) => Task.FromResult(Metadata(1000, _time.GetUtcNow().AddHours(-20), _sha256));

        await Staging(client).StageFileAsync(_file, _sha256, CancellationToken.None);

        s3.Puts.Should().Be(1, "the bucket's lifecycle removes it within hours, while the cluster still fetches it");
    }

    [Fact]
    public async Task EveryCall_NamesTheAccountThatMustOwnTheBucket()
    {
        var (client, s3) = FakeS3.Create();
        var staging = Staging(client);

        await staging.StageFileAsync(_file, _sha256, CancellationToken.None);
        await staging.PutAsync("boot/x", [1, 2, 3], CancellationToken.None);
        await staging.DeleteAsync("boot/x", CancellationToken.None);

        s3.Requests.Should().HaveCount(4).And.OnlyContain(r => ExpectedOwner(r) == Account);
    }

    [Fact]
    public async Task StageAsync_TheFirstWorkerWaitingForAnUploadIsCancelled_TheOthersStillGetIt()
    {
        var (client, s3) = FakeS3.Create();
        var putStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var putMayEnd = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        s3.Put = async (_, token) =>
        {
            putStarted.TrySetResult();
            await putMayEnd.Task.WaitAsync(token);
            return new PutObjectResponse();
        };
        using var files = new S3BlobStaging(Staging(client), TimeSpan.FromMinutes(10));
        using var first = new CancellationTokenSource();

        var firstWorker = files.StageAsync(_sha256, _file, 1000, first.Token);
        var secondWorker = files.StageAsync(_sha256, _file, 1000, CancellationToken.None);
        await putStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        first.Cancel();
        await firstWorker.Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        putMayEnd.SetResult();

        (await secondWorker.WaitAsync(TimeSpan.FromSeconds(10))).AbsolutePath.Should().EndWith(S3Staging.ContentKey(_sha256));
        s3.Puts.Should().Be(1);
    }

    [Fact]
    public async Task StageAsync_SharedValueWhoseCallerLetsGoMidUpload_IsUploadedIntactAndItsBufferFreedAfter()
    {
        var (client, s3) = FakeS3.Create();
        var putStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var putMayEnd = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        byte[]? uploaded = null;
        s3.Put = async (request, token) =>
        {
            putStarted.TrySetResult();
            await putMayEnd.Task.WaitAsync(token);
            using var body = new MemoryStream();
            await request.InputStream.CopyToAsync(body, token);
            uploaded = body.ToArray();
            return new PutObjectResponse();
        };
        var expected = RandomNumberGenerator.GetBytes(5000);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(expected));
        var buffer = Coiled.Remote.Transport.RentedBuffer.Rent(expected.Length);
        expected.CopyTo(buffer.Array, 0);
        using var values = new S3BlobStaging(Staging(client), TimeSpan.FromMinutes(10));
        using var caller = new CancellationTokenSource();

        var staging = values.StageAsync(sha256, buffer, expected.Length, caller.Token);
        await putStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        caller.Cancel();
        await staging.Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        buffer.Release();
        buffer.Array.Should().NotBeNull("the upload holds the bytes after the caller let go of them");
        putMayEnd.SetResult();

        (await values.StageAsync(sha256, Coiled.Remote.Transport.RentedBuffer.Rent(1), expected.Length, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)))
            .AbsolutePath.Should().EndWith(S3Staging.ContentKey(sha256), "a later asker is served by the upload already made");
        uploaded.Should().Equal(expected);
        s3.Puts.Should().Be(1);
        var freed = () => buffer.Array;
        freed.Should().Throw<ObjectDisposedException>("the upload let go of the bytes once it ended");
        s3.Requests.OfType<PutObjectRequest>().Single().ChecksumSHA256.Should().Be(Convert.ToBase64String(SHA256.HashData(expected)));
    }

    private S3Staging Staging(IAmazonS3 client) => new(client, "bucket", Account, null, _time, NullLogger.Instance);

    private static GetObjectMetadataResponse Metadata(long size, DateTimeOffset written, string sha256) => new()
    {
        ContentLength = size,
        LastModified = written.UtcDateTime,
        ChecksumSHA256 = Convert.ToBase64String(Convert.FromHexString(sha256)),
    };

    private static string? ExpectedOwner(AmazonWebServiceRequest request)
        => request.GetType().GetProperty("ExpectedBucketOwner")?.GetValue(request) as string;

    /// <summary>An S3 client that records its requests and answers HEAD, PUT, DELETE and presigning as told.</summary>
    public class FakeS3 : DispatchProxy
    {
        private int _puts;

        public Func<GetObjectMetadataRequest, CancellationToken, Task<GetObjectMetadataResponse>> Head { get; set; }
            = (_, _) => Task.FromException<GetObjectMetadataResponse>(new AmazonS3Exception("Not Found", ErrorType.Sender, "NotFound", "r", HttpStatusCode.NotFound));

        public Func<PutObjectRequest, CancellationToken, Task<PutObjectResponse>> Put { get; set; } = (_, _) => Task.FromResult(new PutObjectResponse());

        public List<AmazonWebServiceRequest> Requests { get; } = [];

        public int Puts => Volatile.Read(ref _puts);

        public static (IAmazonS3 Client, FakeS3 Fake) Create()
        {
            var client = Create<IAmazonS3, FakeS3>();
            return (client, (FakeS3)(object)client);
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            var request = args?.FirstOrDefault() as AmazonWebServiceRequest;
            if (request is not null and not GetPreSignedUrlRequest)
            {
                lock (Requests)
                {
                    Requests.Add(request);
                }
            }

            switch (targetMethod!.Name)
            {
                case "GetObjectMetadataAsync":
                    return Head((GetObjectMetadataRequest)request!, (CancellationToken)args![1]!);
                case "PutObjectAsync":
                    Interlocked.Increment(ref _puts);
                    return Put((PutObjectRequest)request!, (CancellationToken)args![1]!);
                case "DeleteObjectAsync":
                    return Task.FromResult(new DeleteObjectResponse());
                case "GetPreSignedURLAsync":
                    return Task.FromResult($"https://s3.example/bucket/{((GetPreSignedUrlRequest)args![0]!).Key}?X-Amz-Signature=0");
                case "Dispose":
                    return null;
                default:
                    throw new NotSupportedException(targetMethod.Name);
            }
        }
    }
}
