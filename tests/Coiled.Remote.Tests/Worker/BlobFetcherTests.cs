using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// A worker fetching blobs from the cluster's shared storage, here a local HTTP server on loopback that answers as a
/// presigned S3 GET would: the content, an error status, or something else than asked for.
/// </summary>
public sealed class BlobFetcherTests : IAsyncLifetime
{
    private readonly TempDirectory _cache = new();
    private readonly ConcurrentDictionary<string, Func<HttpContext, Task>> _answers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _requests = new();
    private WebApplication _server = null!;
    private Uri _url = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _server = builder.Build();
        _server.MapGet("/{name}", async context =>
        {
            var name = (string)context.Request.RouteValues["name"]!;
            _requests.Enqueue(name + context.Request.QueryString);
            await _answers[name](context);
        });
        await _server.StartAsync();
        _url = new Uri(_server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _cache.Dispose();
    }

    [Fact]
    public async Task FetchAsync_TwoBlobsOneListedTwice_StoresEachOnceVerifiedAndReadOnly()
    {
        var (first, second) = (Serve("first", RandomBytes(300_000)), Serve("second", RandomBytes(10)));
        var store = new BlobStore(_cache.Path);

        var reply = await Fetcher(store).FetchAsync(Request(first, second, first), CancellationToken.None);

        reply.BlobsStored.Should().Be(2);
        reply.BytesStored.Should().Be(300_010);
        File.ReadAllBytes(store.PathOf(first.Sha256.Span)).Should().Equal(first.Content);
        File.ReadAllBytes(store.PathOf(second.Sha256.Span)).Should().Equal(second.Content);
        File.GetLastWriteTimeUtc(store.PathOf(first.Sha256.Span)).Should().Be(BlobStore.StoredTime);
        _requests.Where(r => r.StartsWith("first", StringComparison.Ordinal)).Should().ContainSingle();
    }

    [Fact]
    public async Task FetchAsync_BlobAlreadyStored_IsNotRequested()
    {
        var blob = Serve("kept", RandomBytes(1000));
        var store = new BlobStore(_cache.Path);
        await Fetcher(store).FetchAsync(Request(blob), CancellationToken.None);

        var again = await Fetcher(store).FetchAsync(Request(blob), CancellationToken.None);

        again.BlobsStored.Should().Be(0);
        _requests.Should().ContainSingle();
    }

    [Fact]
    public async Task FetchAsync_ContentOtherThanItsHash_IsRefusedAsDataLossAndNothingIsStored()
    {
        var blob = Serve("swapped", RandomBytes(5000));
        _answers["swapped"] = context => context.Response.Body.WriteAsync(new byte[5000]).AsTask();
        var store = new BlobStore(_cache.Path);

        var fetch = () => Fetcher(store).FetchAsync(Request(blob), CancellationToken.None);

        (await fetch.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.DataLoss);
        File.Exists(store.PathOf(blob.Sha256.Span)).Should().BeFalse();
        Directory.EnumerateFileSystemEntries(Path.Combine(_cache.Path, "blobs")).Should().BeEmpty("the discarded download leaves no temporary file");
    }

    [Fact]
    public async Task FetchAsync_AnswerLongerThanTheBlob_IsRefusedAsDataLoss()
    {
        var blob = Serve("long", RandomBytes(100));
        _answers["long"] = context => context.Response.Body.WriteAsync(new byte[101]).AsTask();

        var fetch = () => Fetcher(new BlobStore(_cache.Path)).FetchAsync(Request(blob), CancellationToken.None);

        (await fetch.Should().ThrowAsync<RpcException>()).Which.Status.Detail.Should().Contain("longer than the blob's 100 bytes");
    }

    [Fact]
    public async Task FetchAsync_ExpiredAddress_FailsNamingTheBlobAndStatusButNotTheSignature()
    {
        var blob = Serve("expired", RandomBytes(100));
        _answers["expired"] = context =>
        {
            context.Response.StatusCode = 403;
            return context.Response.WriteAsync("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
        };

        var fetch = () => Fetcher(new BlobStore(_cache.Path)).FetchAsync(Request(blob), CancellationToken.None);

        var failure = (await fetch.Should().ThrowAsync<RpcException>()).Which;
        failure.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        failure.Status.Detail.Should().Contain(Convert.ToHexStringLower(blob.Sha256.Span)).And.Contain("HTTP 403").And.Contain("Request has expired")
            .And.Contain(new Uri(_url, "expired").AbsoluteUri).And.NotContain("X-Amz-Signature");
        _requests.Should().ContainSingle("a refusal is not retried");
    }

    [Fact]
    public async Task FetchAsync_ServerErrorThenContent_IsRetriedAndStored()
    {
        var blob = Serve("flaky", RandomBytes(2000));
        var calls = 0;
        _answers["flaky"] = context =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                context.Response.StatusCode = 503;
                return context.Response.WriteAsync("<Error><Code>SlowDown</Code></Error>");
            }

            return context.Response.Body.WriteAsync(blob.Content).AsTask();
        };
        var store = new BlobStore(_cache.Path);

        var reply = await Fetcher(store).FetchAsync(Request(blob), CancellationToken.None);

        reply.BlobsStored.Should().Be(1);
        calls.Should().Be(2);
        File.ReadAllBytes(store.PathOf(blob.Sha256.Span)).Should().Equal(blob.Content);
    }

    [Fact]
    public async Task FetchAsync_AnswerThatStallsMidway_IsAbandonedAndTriedAgain()
    {
        var blob = Serve("stalls", RandomBytes(2000));
        var calls = 0;
        _answers["stalls"] = async context =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                // A hundred bytes, then nothing, until the client gives up on this answer.
                await context.Response.Body.WriteAsync(blob.Content.AsMemory(0, 100));
                await context.Response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            await context.Response.Body.WriteAsync(blob.Content);
        };
        var store = new BlobStore(_cache.Path);

        var reply = await new BlobFetcher(store, BlobFetcher.SharedHttp, TimeProvider.System) { StallTimeout = TimeSpan.FromMilliseconds(300) }
            .FetchAsync(Request(blob), CancellationToken.None);

        reply.BlobsStored.Should().Be(1);
        calls.Should().Be(2);
        File.ReadAllBytes(store.PathOf(blob.Sha256.Span)).Should().Equal(blob.Content);
    }

    [Fact]
    public async Task FetchAsync_AnswerThatNeverComes_FailsAfterItsAttemptsSayingSo()
    {
        var blob = Serve("silent", RandomBytes(10));
        _answers["silent"] = context => Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);

        var fetch = () => new BlobFetcher(new BlobStore(_cache.Path), BlobFetcher.SharedHttp, TimeProvider.System) { StallTimeout = TimeSpan.FromMilliseconds(200) }
            .FetchAsync(Request(blob), CancellationToken.None);

        var failure = (await fetch.Should().ThrowAsync<RpcException>()).Which;
        failure.StatusCode.Should().Be(StatusCode.Unavailable);
        failure.Status.Detail.Should().Contain("no answer within 0.2 s").And.Contain($"after {BlobFetcher.Attempts} attempt(s)");
    }

    [Fact]
    public async Task FetchAsync_AddressThatIsNotHttp_IsRefusedBeforeAnyDownload()
    {
        var blob = Serve("file", RandomBytes(10));
        var request = new FetchRequest { Blobs = { new FetchBlob { Sha256 = blob.Sha256, Size = 10, Url = "file:///etc/passwd" } } };

        var fetch = () => Fetcher(new BlobStore(_cache.Path)).FetchAsync(request, CancellationToken.None);

        (await fetch.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.InvalidArgument);
        _requests.Should().BeEmpty();
    }

    private static BlobFetcher Fetcher(BlobStore store) => new(store, BlobFetcher.SharedHttp, TimeProvider.System);

    private static byte[] RandomBytes(int count) => RandomNumberGenerator.GetBytes(count);

    private Served Serve(string name, byte[] content)
    {
        _answers[name] = context => context.Response.Body.WriteAsync(content).AsTask();
        return new Served(ByteString.CopyFrom(SHA256.HashData(content)), content, new Uri(_url, name + "?X-Amz-Signature=5ec7e7"));
    }

    private static FetchRequest Request(params Served[] blobs)
    {
        var request = new FetchRequest();
        request.Blobs.AddRange(blobs.Select(b => new FetchBlob { Sha256 = b.Sha256, Size = b.Content.Length, Url = b.Url.AbsoluteUri }));
        return request;
    }

    private sealed record Served(ByteString Sha256, byte[] Content, Uri Url);
}
