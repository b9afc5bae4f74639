using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Grpc.Core;

namespace Coiled.Remote.Tests.Worker;

/// <summary>A shared value the worker fetched into its blob store, read back by the stream's executor.</summary>
public sealed class StagedValueTests : IDisposable
{
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [Fact]
    public void Read_StoredBlob_ReturnsItsBytesInAPooledBuffer()
    {
        var store = new BlobStore(_cache.Path);
        var content = RandomNumberGenerator.GetBytes(70_000);
        var hash = Store(store, content);

        var (data, buffer) = StagedValue.Read(store.Folder, hash);

        data.ToArray().Should().Equal(content);
        buffer.Release();
    }

    [Fact]
    public void Read_BlobNeverFetched_FailsAsAPreconditionNamingTheValue()
    {
        var store = new BlobStore(_cache.Path);
        var hash = SHA256.HashData([1, 2, 3]);

        var read = () => StagedValue.Read(store.Folder, hash);

        var failure = read.Should().Throw<RpcException>().Which;
        failure.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        failure.Status.Detail.Should().Contain(Convert.ToHexStringLower(hash)).And.Contain("does not hold it");
    }

    [Fact]
    public void Read_BlobWrittenToSinceItWasStored_IsRefusedNotServedAltered()
    {
        var store = new BlobStore(_cache.Path);
        var hash = Store(store, RandomNumberGenerator.GetBytes(1000));
        var path = store.PathOf(hash);
        File.SetAttributes(path, FileAttributes.Normal);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllBytes(path, new byte[1000]);

        var read = () => StagedValue.Read(store.Folder, hash);

        read.Should().Throw<RpcException>().Which.Status.Detail.Should().Contain("written to since it was stored");
    }

    [Fact]
    public void Read_ExecutorWithoutAFolderOfStagedValues_FailsSayingSo()
    {
        var read = () => StagedValue.Read(null, SHA256.HashData([1]));

        read.Should().Throw<RpcException>().Which.Status.Detail.Should().Contain("started without the worker's folder of staged values");
    }

    [Fact]
    public void Read_HashOfTheWrongLength_IsAnInvalidArgument()
    {
        var read = () => StagedValue.Read(_cache.Path, new byte[31]);

        read.Should().Throw<RpcException>().Which.StatusCode.Should().Be(StatusCode.InvalidArgument);
    }

    /// <summary>Stores <paramref name="content"/> as a fetch would: written, then sealed under its hash.</summary>
    private static byte[] Store(BlobStore store, byte[] content)
    {
        var hash = SHA256.HashData(content);
        var path = store.PathOf(hash);
        File.WriteAllBytes(path, content);
        BlobStore.Seal(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return hash;
    }
}
