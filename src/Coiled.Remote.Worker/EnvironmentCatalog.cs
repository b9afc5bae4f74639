using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// The environments a worker knows: manifests announced by clients, and the folders and load contexts made from
/// them once every blob is present. Folders live under <c>envs/&lt;id&gt;</c> next to the blob store and are reused.
/// A folder's files are hard links to the blobs (no rights needed, unlike symbolic links, which Windows grants only to
/// administrators and in Developer Mode), or read-only copies where the file system has no hard links; executables
/// are copies of their own.
/// A manifest is kept on disk, under <c>manifests/&lt;id&gt;</c>, not in memory: one may list 100,000 files, and a
/// worker serves many builds over its life, so holding them would grow its heap by every build it ever saw. It is read
/// back when a stream opens its environment, and checked against its id, which hashes every path and file hash in it.
/// </summary>
internal sealed class EnvironmentCatalog
{
    private const int HashBytes = 32;
    private const int MaxFiles = 100_000;
    private const string ManifestPrefix = ".manifest-";

    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const UnixFileMode ReadOnlyExecutable =
        UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly BlobStore _blobs;
    private readonly string _directory;
    private readonly string _manifests;
    private readonly bool _hostEnvironment;
    private readonly ConcurrentDictionary<string, Lazy<RemoteEnvironment>> _open = new(StringComparer.Ordinal);
    private readonly Lazy<RemoteEnvironment> _host = new(RemoteEnvironment.ForHost);

    public EnvironmentCatalog(string cacheDirectory, BlobStore blobs, bool hostEnvironment)
    {
        _blobs = blobs;
        _hostEnvironment = hostEnvironment;
        _directory = Path.Combine(cacheDirectory, "envs");
        BlobStore.CreatePrivateDirectory(_directory);
        CacheLeftovers.Sweep(_directory, [".staging-", ".altered-"], DateTime.UtcNow);
        _manifests = Path.Combine(cacheDirectory, "manifests");
        BlobStore.CreatePrivateDirectory(_manifests);
        CacheLeftovers.Sweep(_manifests, [ManifestPrefix], DateTime.UtcNow);
    }

    /// <summary>Validates a manifest, stores it on disk, and returns its id with the blobs this worker lacks.</summary>
    public SyncPlanReply Plan(Manifest manifest)
    {
        if (manifest is null)
        {
            throw Invalid("PlanSync needs a manifest.");
        }

        if (manifest.ProtocolVersion != ProtocolVersion.Current)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"The manifest was made for Coiled.Remote protocol {manifest.ProtocolVersion}; this worker speaks protocol {ProtocolVersion.Current}. " +
                "Use the same Coiled.Remote version on the caller and the workers."));
        }

        if (manifest.Files.Count > MaxFiles)
        {
            throw Invalid($"The manifest lists {manifest.Files.Count} files; at most {MaxFiles} are accepted.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var reply = new SyncPlanReply();
        var missing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in manifest.Files)
        {
            ValidatePath(file.Path);
            if (!seen.Add(file.Path))
            {
                throw Invalid($"The manifest lists '{file.Path}' twice.");
            }

            if (file.Sha256.Length != HashBytes)
            {
                throw Invalid($"The manifest entry '{file.Path}' has a {file.Sha256.Length}-byte hash; SHA-256 hashes are {HashBytes} bytes.");
            }

            if (file.Size < 0)
            {
                throw Invalid($"The manifest entry '{file.Path}' has a negative size.");
            }

            if (!_blobs.Contains(file.Sha256.Span, file.Size) && missing.Add(Convert.ToHexStringLower(file.Sha256.Span)))
            {
                reply.Missing.Add(file.Sha256);
            }
        }

        reply.EnvironmentId = ComputeId(manifest);
        Store(reply.EnvironmentId, manifest);
        return reply;
    }

    /// <summary>Opens an environment announced with <see cref="Plan"/> whose blobs have all arrived, in this process.</summary>
    public RemoteEnvironment Open(string environmentId)
    {
        if (environmentId.Length == 0)
        {
            if (!_hostEnvironment)
            {
                throw SynchronizedOnly();
            }

            return _host.Value;
        }

        // Located on every open, so that a folder a task altered is laid out again before it is used.
        var (folder, entryAssembly) = Locate(environmentId);
        var lazy = _open.GetOrAdd(environmentId, id => new Lazy<RemoteEnvironment>(() => RemoteEnvironment.ForFolder(id, folder, entryAssembly)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _open.TryRemove(new KeyValuePair<string, Lazy<RemoteEnvironment>>(environmentId, lazy));
            throw;
        }
    }

    /// <summary>
    /// The folder of an environment announced with <see cref="Plan"/> whose blobs have all arrived, laid out on first
    /// use, for an executor process to load, and the caller's entry assembly its manifest names (empty when unknown).
    /// </summary>
    public (string Directory, string EntryAssembly) Locate(string environmentId)
    {
        if (environmentId.Length == 0)
        {
            throw SynchronizedOnly();
        }

        var manifest = Load(environmentId);
        var missing = manifest.Files.Where(f => !_blobs.Contains(f.Sha256.Span, f.Size)).Select(f => f.Path).ToList();
        if (missing.Count > 0)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"Environment {environmentId} cannot open: {missing.Count} file(s) are not in the worker's cache, e.g. {string.Join(", ", missing.Take(5))}: " +
                "never uploaded, or found written to since and deleted. Synchronize again (start the cluster again): upload every blob PlanSync reports missing."));
        }

        return (LayOut(environmentId, manifest), manifest.EntryAssembly);
    }

    /// <summary>Writes a manifest to <c>manifests/&lt;id&gt;</c>, beside the target and moved into place, so that a reader never sees half of one.</summary>
    private void Store(string id, Manifest manifest)
    {
        var staging = Path.Combine(_manifests, ManifestPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            File.WriteAllBytes(staging, manifest.ToByteArray());
            File.Move(staging, Path.Combine(_manifests, id), overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDeleteFile(staging);
            throw new RpcException(new Status(StatusCode.Internal, $"The manifest of environment {id} could not be stored in the worker's cache: {ex.Message}"));
        }
    }

    /// <summary>Reads a stored manifest back, checking that it still is the one its id names.</summary>
    private Manifest Load(string id)
    {
        if (!IsEnvironmentId(id))
        {
            throw Invalid($"'{id}' is not an environment id: PlanSync returns one, 64 lower-case hexadecimal digits.");
        }

        Manifest manifest;
        try
        {
            manifest = Manifest.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_manifests, id)));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"Environment {id} is unknown to this worker: call PlanSync with its manifest first."));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidProtocolBufferException)
        {
            throw Altered(id, ex.Message);
        }

        return ComputeId(manifest) == id ? manifest : throw Altered(id, "its files are not the ones its id names");
    }

    private static RpcException Altered(string id, string why) => new(new Status(
        StatusCode.FailedPrecondition,
        $"The stored manifest of environment {id} cannot be used ({why}); it was changed or damaged in the worker's cache. " +
        "Synchronize again (PlanSync with the manifest), which stores it afresh."));

    /// <summary>Whether <paramref name="id"/> has the form of <see cref="ComputeId"/>'s: 64 lower-case hexadecimal digits.</summary>
    private static bool IsEnvironmentId(string id) => id.Length == HashBytes * 2 && id.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    private static RpcException SynchronizedOnly() => new(new Status(
        StatusCode.FailedPrecondition,
        "This worker runs tasks only in synchronized environments: call PlanSync and Upload, then open the environment id PlanSync returned."));

    /// <summary>
    /// The environment's folder under <c>envs/</c>, laid out from the blobs if it is not there yet or if anything wrote
    /// to one of its files (each carries <see cref="BlobStore.StoredTime"/> until then, as <see cref="BlobStore.Contains"/> checks).
    /// </summary>
    private string LayOut(string id, Manifest manifest)
    {
        var target = Path.Combine(_directory, id);
        if (Directory.Exists(target) && !FilesIntact(target, manifest))
        {
            var altered = Path.Combine(_directory, $".altered-{Guid.NewGuid():N}");
            try
            {
                Directory.Move(target, altered);
                TryDelete(altered);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another worker sharing the cache may have moved it first and laid it out anew. If it is still there as
                // it was, a process holds its files (Windows renames no folder with an open file): never serve it so.
                if (Directory.Exists(target) && !FilesIntact(target, manifest))
                {
                    throw new RpcException(new Status(
                        StatusCode.FailedPrecondition,
                        $"Environment {id} in the worker's cache ({target}) was changed by a task (a file written to or added) and cannot be laid out " +
                        $"again while a process holds its files: {ex.Message} Start the cluster again once that environment's executors have ended " +
                        "(after the worker's --executor-idle-timeout), or restart the worker."));
                }
            }
        }

        if (!Directory.Exists(target))
        {
            // Build beside the target and move it into place, so that a folder under envs/ is always complete,
            // even when several workers sharing this cache materialize the same environment at once.
            var staging = Path.Combine(_directory, $".staging-{Guid.NewGuid():N}");
            try
            {
                foreach (var file in manifest.Files)
                {
                    var path = Path.Combine(staging, file.Path);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    var blob = _blobs.PathOf(file.Sha256.Span);
                    if (file.Executable)
                    {
                        // Blobs are shared by content, and the same bytes may be a plain file in another environment:
                        // an executable gets a read-only copy of its own.
                        File.Copy(blob, path);
                        BlobStore.Seal(path, ReadOnlyExecutable);
                    }
                    else if (!HardLink.TryCreate(blob, path))
                    {
                        File.Copy(blob, path);
                        BlobStore.Seal(path, ReadOnly);
                    }
                }

                Directory.CreateDirectory(staging);
                Directory.Move(staging, target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                TryDelete(staging);
            }
            catch (Exception ex)
            {
                TryDelete(staging);
                throw new RpcException(new Status(StatusCode.Internal, $"Environment {id} could not be laid out on the worker: {ex.Message}"));
            }
        }

        return target;
    }

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the next start's sweep of leftovers.
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            BlobStore.DeleteFolder(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the next start's sweep of leftovers.
        }
    }

    /// <summary>
    /// Whether the folder holds its manifest's files as laid out, and nothing else: a write through a hard link changes
    /// the blob as well, whose path <see cref="BlobStore.Contains"/> then deletes, but this name would still hold the
    /// altered bytes; and a file a task added beside the app's (its folder is the task's user's) would be there for the
    /// next run of the same build.
    /// </summary>
    private static bool FilesIntact(string folder, Manifest manifest)
    {
        if (!manifest.Files.All(file => BlobStore.IsIntact(Path.Combine(folder, file.Path), file.Size)))
        {
            return false;
        }

        try
        {
            return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count() == manifest.Files.Count;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A folder a task made unreadable: laid out again like any other change.
            return false;
        }
    }

    /// <summary>Hex SHA-256 over the sorted (path, hash) pairs: the same application gives the same id on every worker.</summary>
    public static string ComputeId(Manifest manifest)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in manifest.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(file.Path));
            hash.AppendData([0]);
            hash.AppendData(file.Sha256.Span);
            hash.AppendData([file.Executable ? (byte)1 : (byte)0]);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void ValidatePath(string path)
    {
        if (path.Length == 0 || path.Length > 1024 || path.Contains('\0') || path.Contains('\\') || path.StartsWith('/')
            || path.Split('/').Any(part => part is "" or "." or ".."))
        {
            throw Invalid($"The manifest path '{path}' is not a plain relative path ('a/b.dll', no '..', no leading '/').");
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
