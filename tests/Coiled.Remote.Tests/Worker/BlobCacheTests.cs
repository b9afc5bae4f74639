using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Google.Protobuf;
using Grpc.Core;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// The worker's content-addressed cache cannot be changed under the environments that read it: blobs are read-only in
/// a private folder, one found written to is never served again, executables get copies of their own, and what a
/// crashed worker left behind is swept away.
/// </summary>
public sealed class BlobCacheTests : IAsyncLifetime
{
    private const string Token = "test-token-0123456789abcdef";
    private static readonly byte[] Content = "the application's data file\n"u8.ToArray();
    private static readonly byte[] Hash = SHA256.HashData(Content);
    private TestWorker _worker = null!;

    private Coiled.Remote.Transport.Protocol.Worker.WorkerClient Client => _worker.Client;

    private string BlobPath => Path.Combine(_worker.CachePath, "blobs", Convert.ToHexStringLower(Hash));

    public async Task InitializeAsync() => _worker = await TestWorker.StartAsync(Token);

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [UnixFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Upload_StoredBlob_IsReadOnlyInFoldersOnlyTheWorkerMayEnter()
    {
        await UploadAsync();

        File.GetUnixFileMode(BlobPath).Should().Be(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.GetLastWriteTimeUtc(BlobPath).Should().Be(BlobStore.StoredTime);
        var privateFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        File.GetUnixFileMode(Path.Combine(_worker.CachePath, "blobs")).Should().Be(privateFolder);
        File.GetUnixFileMode(Path.Combine(_worker.CachePath, "envs")).Should().Be(privateFolder);
    }

    [Fact]
    public async Task PlanSync_BlobWrittenToAfterItWasStored_IsReportedMissingAndTheUploadRestoresIt()
    {
        await UploadAsync();
        (await PlanAsync()).Missing.Should().BeEmpty();

        // What a task writing through a link into the cache does; the worker's user may write whatever the mode says.
        File.SetAttributes(BlobPath, FileAttributes.Normal);
        File.AppendAllText(BlobPath, "appended by a task\n");

        var plan = await PlanAsync();
        plan.Missing.Select(hash => hash.ToByteArray()).Should().ContainSingle().Which.Should().Equal(Hash);
        File.Exists(BlobPath).Should().BeFalse("a blob that no longer matches its hash is never served again");

        await UploadAsync();
        File.ReadAllBytes(BlobPath).Should().Equal(Content);
        (await PlanAsync()).Missing.Should().BeEmpty();
    }

    [Fact]
    public async Task PlanSync_ManifestClaimingAnotherSize_ReportsTheBlobMissingAndKeepsIt()
    {
        await UploadAsync();

        var plan = await PlanAsync(size: Content.Length + 1);

        plan.Missing.Should().ContainSingle();
        File.ReadAllBytes(BlobPath).Should().Equal(Content, "one client's wrong manifest must not delete a blob others use");
    }

    [Fact]
    public async Task PlanSync_SameBytesExecutableOrNot_AreTwoEnvironments()
    {
        var plain = await PlanAsync();
        var executable = await PlanAsync(executable: true);

        executable.EnvironmentId.Should().NotBe(plain.EnvironmentId);
    }

    [UnixFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Run_ExecutableFile_IsLaidOutAsAReadOnlyExecutableCopyAndPlainFilesAsHardLinks()
    {
        await UploadAsync();
        var manifest = Manifest(Content.Length, executable: false);
        manifest.Files.Add(new ManifestEntry { Path = "tools/run.sh", Sha256 = ByteString.CopyFrom(Hash), Size = Content.Length, Executable = true });
        var plan = await Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, Auth());
        plan.Missing.Should().BeEmpty();

        await OpenAsync(plan.EnvironmentId);

        var folder = Path.Combine(_worker.CachePath, "envs", plan.EnvironmentId);
        var tool = new FileInfo(Path.Combine(folder, "tools", "run.sh"));
        var data = new FileInfo(Path.Combine(folder, "data.txt"));
        tool.LinkTarget.Should().BeNull("an executable is a copy: the blob it came from may be a plain file elsewhere");
        tool.UnixFileMode.Should().Be(UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.ReadAllBytes(tool.FullName).Should().Equal(Content);
        data.LinkTarget.Should().BeNull("symbolic links need rights Windows gives only to administrators");
        data.UnixFileMode.Should().Be(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        data.LastWriteTimeUtc.Should().Be(BlobStore.StoredTime);
        File.GetUnixFileMode(BlobPath).Should().Be(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "the shared blob keeps its own mode");

        // A hard link is the blob under another name: a change of the blob's mode shows through it, never through the copy.
        File.SetUnixFileMode(BlobPath, UnixFileMode.UserRead);
        File.GetUnixFileMode(data.FullName).Should().Be(UnixFileMode.UserRead);
        File.GetUnixFileMode(tool.FullName).Should().NotBe(UnixFileMode.UserRead);
        File.SetUnixFileMode(BlobPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    [Fact]
    public async Task Run_PlainFileWrittenToThroughItsEnvironment_IsUploadedAndLaidOutAgain()
    {
        await UploadAsync();
        var plan = await PlanAsync();
        await OpenAsync(plan.EnvironmentId);
        var data = Path.Combine(_worker.CachePath, "envs", plan.EnvironmentId, "data.txt");

        // What a task running as a user who may write anyway (root) does to a file of its app in the cache.
        File.SetAttributes(data, FileAttributes.Normal);
        File.AppendAllText(data, "changed by a task\n");

        var again = await PlanAsync();
        again.Missing.Select(hash => hash.ToByteArray()).Should().ContainSingle().Which.Should().Equal(Hash);
        await UploadAsync();
        await OpenAsync(plan.EnvironmentId);

        File.ReadAllBytes(data).Should().Equal(Content);
        File.GetLastWriteTimeUtc(data).Should().Be(BlobStore.StoredTime);
        File.ReadAllBytes(BlobPath).Should().Equal(Content);
    }

    [Fact]
    public async Task Run_ExecutableWrittenToByATask_IsLaidOutAgainOnTheNextOpen()
    {
        await UploadAsync();
        var manifest = Manifest(Content.Length, executable: true);
        var plan = await Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, Auth());
        await OpenAsync(plan.EnvironmentId);
        var tool = Path.Combine(_worker.CachePath, "envs", plan.EnvironmentId, "data.txt");
        File.SetAttributes(tool, FileAttributes.Normal);
        File.AppendAllText(tool, "changed by a task\n");

        await OpenAsync(plan.EnvironmentId);

        File.ReadAllBytes(tool).Should().Equal(Content);
        File.GetLastWriteTimeUtc(tool).Should().Be(BlobStore.StoredTime);
    }

    [Fact]
    public async Task PlanSync_Manifest_IsNotHeldInMemoryAndItsEnvironmentStillOpens()
    {
        await UploadAsync();
        var (planned, environmentId) = PlanHeldOnlyByTheWorker();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        planned.IsAlive.Should().BeFalse("the worker keeps manifests on disk, not on its heap");
        await OpenAsync(environmentId);
        File.Exists(Path.Combine(_worker.CachePath, "manifests", environmentId)).Should().BeTrue();
    }

    [Fact]
    public async Task Run_StoredManifestAltered_FailsWithFailedPreconditionSayingToSynchronizeAgain()
    {
        await UploadAsync();
        var plan = await PlanAsync();
        var stored = Path.Combine(_worker.CachePath, "manifests", plan.EnvironmentId);
        var altered = Coiled.Remote.Transport.Protocol.Manifest.Parser.ParseFrom(File.ReadAllBytes(stored));
        altered.Files[0].Path = "other.txt";
        File.WriteAllBytes(stored, altered.ToByteArray());

        var act = () => OpenAsync(plan.EnvironmentId);

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        thrown.Status.Detail.Should().Be(
            $"The stored manifest of environment {plan.EnvironmentId} cannot be used (its files are not the ones its id names); it was changed or damaged in the worker's cache. " +
            "Synchronize again (PlanSync with the manifest), which stores it afresh.");
        (await PlanAsync()).EnvironmentId.Should().Be(plan.EnvironmentId);
        await OpenAsync(plan.EnvironmentId);
    }

    [Theory]
    [InlineData("../../blobs/x")]
    [InlineData("ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    public async Task Run_EnvironmentIdThatIsNoId_IsRefusedWithoutLookingForIt(string environmentId)
    {
        var act = () => OpenAsync(environmentId);

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.InvalidArgument);
        thrown.Status.Detail.Should().Be($"'{environmentId}' is not an environment id: PlanSync returns one, 64 lower-case hexadecimal digits.");
    }

    /// <summary>Plans a manifest that nothing but the worker could still hold once this returns.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private (WeakReference Manifest, string EnvironmentId) PlanHeldOnlyByTheWorker()
    {
        var manifest = Manifest(Content.Length, executable: false);
        var plan = _worker.Host.Runtime.Environments.Plan(manifest);
        plan.Missing.Should().BeEmpty();
        return (new WeakReference(manifest), plan.EnvironmentId);
    }

    [Fact]
    public async Task Run_FileATaskAddedToItsEnvironment_IsGoneOnTheNextOpen()
    {
        await UploadAsync();
        var plan = await PlanAsync();
        await OpenAsync(plan.EnvironmentId);
        var folder = Path.Combine(_worker.CachePath, "envs", plan.EnvironmentId);

        // What a task does that writes beside its assembly (Path.GetDirectoryName(typeof(Jobs).Assembly.Location)).
        Directory.CreateDirectory(Path.Combine(folder, "logs"));
        File.WriteAllText(Path.Combine(folder, "logs", "run.log"), "left by a task\n");

        await OpenAsync(plan.EnvironmentId);

        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Should().Equal(
            ["data.txt"], "the next run of the same build finds the app's files only");
        File.ReadAllBytes(Path.Combine(folder, "data.txt")).Should().Equal(Content);
    }

    [WindowsFact]
    public async Task Run_ChangedEnvironmentWhoseFileAProcessHoldsOpen_IsRefusedNotServedChanged()
    {
        await UploadAsync();
        var plan = await PlanAsync();
        await OpenAsync(plan.EnvironmentId);
        var folder = Path.Combine(_worker.CachePath, "envs", plan.EnvironmentId);
        File.WriteAllText(Path.Combine(folder, "added.txt"), "left by a task\n");

        // As an executor holds the assemblies it loaded: Windows then renames no folder above them.
        using (new FileStream(Path.Combine(folder, "data.txt"), FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            var act = () => OpenAsync(plan.EnvironmentId);

            var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
            thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
            thrown.Status.Detail.Should().StartWith($"Environment {plan.EnvironmentId} in the worker's cache ({folder}) was changed by a task (a file written to or added) " +
                "and cannot be laid out again while a process holds its files: ")
                .And.EndWith(" Start the cluster again once that environment's executors have ended (after the worker's --executor-idle-timeout), or restart the worker.");
        }

        await OpenAsync(plan.EnvironmentId);
        File.Exists(Path.Combine(folder, "added.txt")).Should().BeFalse("once nothing holds it, the folder is laid out anew");
    }

    [Fact]
    public void Dispose_TemporaryFolderWithSealedFiles_DeletesThemOnEveryPlatform()
    {
        var folder = new TempDirectory();
        var sealedFile = Path.Combine(folder.Path, "blobs", "0123abcd");
        Directory.CreateDirectory(Path.GetDirectoryName(sealedFile)!);
        File.WriteAllText(sealedFile, "a blob");
        BlobStore.Seal(sealedFile, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        folder.Dispose();

        Directory.Exists(folder.Path).Should().BeFalse("a test's worker cache is deleted with its read-only blobs, on Windows too");
    }

    [Fact]
    public void Sweep_LeftoversOlderThanTheMinimumAge_AreDeletedAndRecentOnesKept()
    {
        using var folder = new TempDirectory();
        var now = DateTime.UtcNow;
        var oldUpload = Path.Combine(folder.Path, ".upload-old");
        var newUpload = Path.Combine(folder.Path, ".upload-new");
        var oldStaging = Path.Combine(folder.Path, ".staging-old");
        var blob = Path.Combine(folder.Path, "0123abcd");
        File.WriteAllText(oldUpload, "partial");
        File.WriteAllText(newUpload, "in progress");
        Directory.CreateDirectory(Path.Combine(oldStaging, "lib"));
        File.WriteAllText(blob, "a blob");
        var old = now - CacheLeftovers.MinimumAge - TimeSpan.FromSeconds(1);
        File.SetLastWriteTimeUtc(oldUpload, old);
        Directory.SetLastWriteTimeUtc(oldStaging, old);
        File.SetLastWriteTimeUtc(blob, old);

        var deleted = CacheLeftovers.Sweep(folder.Path, [".upload-", ".staging-"], now);

        deleted.Should().Be(2);
        File.Exists(oldUpload).Should().BeFalse();
        Directory.Exists(oldStaging).Should().BeFalse();
        File.Exists(newUpload).Should().BeTrue("an upload written to within the minimum age may belong to a live worker");
        File.Exists(blob).Should().BeTrue("only leftovers are swept");
    }

    [Fact]
    public void Sweep_LeftoverAnotherWorkerRemovedAfterItWasListed_IsSkippedWithoutFailingTheWorkersStart()
    {
        using var folder = new TempDirectory();
        var gone = new FileInfo(Path.Combine(folder.Path, ".upload-taken-by-another-worker"));
        var goneFolder = new DirectoryInfo(Path.Combine(folder.Path, ".staging-renamed-by-another-worker"));
        var oldUpload = Path.Combine(folder.Path, ".upload-old");
        File.WriteAllText(oldUpload, "partial");
        var now = DateTime.UtcNow;
        File.SetLastWriteTimeUtc(oldUpload, now - CacheLeftovers.MinimumAge - TimeSpan.FromSeconds(1));

        var deleted = CacheLeftovers.Sweep([gone, goneFolder, new FileInfo(oldUpload)], [".upload-", ".staging-"], now);

        deleted.Should().Be(1, "the entries listed but gone since are skipped, and the sweep goes on");
        File.Exists(oldUpload).Should().BeFalse();
    }

    private async Task UploadAsync()
    {
        using var upload = Client.Upload(Auth());
        await upload.RequestStream.WriteAsync(new BlobChunk { Sha256 = ByteString.CopyFrom(Hash), Size = Content.Length, Offset = 0, Data = ByteString.CopyFrom(Content) });
        await upload.RequestStream.CompleteAsync();
        (await upload.ResponseAsync).BlobsStored.Should().Be(1);
    }

    private async Task<SyncPlanReply> PlanAsync(long? size = null, bool executable = false)
        => await Client.PlanSyncAsync(new SyncPlanRequest { Manifest = Manifest(size ?? Content.Length, executable) }, Auth());

    private async Task OpenAsync(string environmentId)
    {
        using var run = Client.Run(Auth());
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment { EnvironmentId = environmentId } });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        run.ResponseStream.Current.Ready.EnvironmentId.Should().Be(environmentId);
        await run.RequestStream.CompleteAsync();
    }

    private static Manifest Manifest(long size, bool executable)
    {
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current };
        manifest.Files.Add(new ManifestEntry { Path = "data.txt", Sha256 = ByteString.CopyFrom(Hash), Size = size, Executable = executable });
        return manifest;
    }

    private static CallOptions Auth() => new(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
}
