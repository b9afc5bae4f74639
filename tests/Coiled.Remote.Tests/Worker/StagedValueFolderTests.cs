using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// The worker's folder of staged shared values keeps to its budget, least recently fetched first but never a value
/// fetched within the last minute, and belongs to its daemon: fetched from a loopback HTTP server standing for S3.
/// </summary>
public sealed class StagedValueFolderTests : IAsyncLifetime
{
    private const int Megabyte = 1_000_000;
    private readonly TempDirectory _cache = new();
    private readonly FakeTimeProvider _time = new();
    private LoopbackBlobStaging _staging = null!;

    public async Task InitializeAsync() => _staging = await LoopbackBlobStaging.StartAsync();

    public async Task DisposeAsync()
    {
        await _staging.DisposeAsync();
        _cache.Dispose();
    }

    [Fact]
    public async Task FetchAsync_ValuesBeyondTheBudget_DeletesTheLeastRecentlyFetchedIdleOnes()
    {
        using var folder = new StagedValueFolder(_cache.Path, "w-test", _time, budget: 2_500_000);
        var (first, second, third) = (Value(1), Value(2), Value(3));

        await FetchAsync(folder, first);
        _time.Advance(TimeSpan.FromMinutes(2));
        await FetchAsync(folder, second);
        _time.Advance(TimeSpan.FromMinutes(2));
        await FetchAsync(folder, first);
        await FetchAsync(folder, third);

        Held(folder).Should().BeEquivalentTo([first.Hex, third.Hex], "the second was fetched least recently, the first was fetched again");
        folder.Bytes.Should().Be(2 * Megabyte);
    }

    [Fact]
    public async Task FetchAsync_OverTheBudgetWithValuesFetchedWithinAMinute_KeepsThemForTheExecutorsAboutToReadThem()
    {
        using var folder = new StagedValueFolder(_cache.Path, "w-test", _time, budget: 1_500_000);
        var (first, second) = (Value(1), Value(2));

        await FetchAsync(folder, first);
        _time.Advance(TimeSpan.FromSeconds(59));
        await FetchAsync(folder, second);

        Held(folder).Should().BeEquivalentTo([first.Hex, second.Hex]);
    }

    [Fact]
    public async Task FetchAsync_ValueAlreadyHeld_IsNotDownloadedAgain()
    {
        using var folder = new StagedValueFolder(_cache.Path, "w-test", _time);
        var value = Value(4);

        (await FetchAsync(folder, value)).BytesStored.Should().Be(Megabyte);
        (await FetchAsync(folder, value)).BytesStored.Should().Be(0);

        _staging.Fetched.Should().ContainSingle();
    }

    [Fact]
    public void Constructor_FoldersOfDeadAndLiveDaemons_DeletesOnlyTheDeadOnesAndDisposeDeletesItsOwn()
    {
        var dead = Directory.CreateDirectory(Path.Combine(_cache.Path, "values", "999999999-w-dead")).FullName;
        File.WriteAllText(Path.Combine(dead, "stale"), "x");
        var live = Directory.CreateDirectory(Path.Combine(_cache.Path, "values", $"{Environment.ProcessId}-w-other")).FullName;

        var folder = new StagedValueFolder(_cache.Path, "w-test", _time);

        Directory.Exists(dead).Should().BeFalse("its daemon is gone");
        Directory.Exists(live).Should().BeTrue("a daemon of this process still runs");
        Directory.Exists(folder.Store.Folder).Should().BeTrue();
        folder.Dispose();
        Directory.Exists(folder.Store.Folder).Should().BeFalse();
    }

    private static (byte[] Content, string Hex) Value(int seed)
    {
        var content = new byte[Megabyte];
        new Random(seed).NextBytes(content);
        return (content, Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    private async Task<UploadReply> FetchAsync(StagedValueFolder folder, (byte[] Content, string Hex) value)
    {
        var buffer = RentedBuffer.Rent(value.Content.Length);
        value.Content.CopyTo(buffer.Array, 0);
        var address = await _staging.StageAsync(value.Hex, buffer, value.Content.Length, CancellationToken.None);
        buffer.Release();
        var request = new FetchRequest { SharedValues = true };
        request.Blobs.Add(new FetchBlob { Sha256 = ByteString.CopyFrom(Convert.FromHexString(value.Hex)), Size = value.Content.Length, Url = address.AbsoluteUri });
        return await folder.FetchAsync(request, new HttpClient(), CancellationToken.None);
    }

    private static IEnumerable<string> Held(StagedValueFolder folder) => Directory.EnumerateFiles(folder.Store.Folder).Select(Path.GetFileName)!;
}
