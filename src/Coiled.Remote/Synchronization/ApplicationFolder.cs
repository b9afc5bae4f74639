using System.Collections.Concurrent;
using System.Security.Cryptography;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// The caller's output folder as workers need it: its files (entry assembly, project references, NuGet assemblies,
/// PDBs, content files, runtime-specific assets), each named by its SHA-256, and what its deps.json says about where it
/// can run. Files under <c>runtimes/&lt;rid&gt;/</c> are hashed only once a worker's platform asks for them, since most
/// are for other platforms. The shared framework is not part of it: workers have their own.
/// </summary>
internal sealed class ApplicationFolder
{
    /// <summary>Folders of the output folder that workers never need, besides those whose names start with a dot (.vs, .git).</summary>
    private static readonly HashSet<string> SkippedFolders = new(StringComparer.OrdinalIgnoreCase)
    {
        "coiled-remote-worker", "ref", "TestResults",
    };

    /// <summary>Files without which the application cannot load: one of them unreadable fails the synchronization.</summary>
    private static readonly HashSet<string> CodeExtensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".dll", ".exe", ".so", ".dylib", ".json",
    };

    private static readonly ConcurrentDictionary<string, HashedFile> HashCache = new(StringComparer.Ordinal);

    private readonly IReadOnlyList<AppFile> _files;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Lazy<EnvironmentSnapshot>> _snapshots = new(StringComparer.Ordinal);

    private ApplicationFolder(string baseDirectory, AppDependencies dependencies, IReadOnlyList<AppFile> files, ILogger logger)
    {
        BaseDirectory = baseDirectory;
        Dependencies = dependencies;
        _files = files;
        _logger = logger;
    }

    public string BaseDirectory { get; }

    public AppDependencies Dependencies { get; }

    /// <summary>
    /// Lists the application in <paramref name="baseDirectory"/>, reads its deps.json and hashes every file that is not
    /// runtime-specific; unchanged files are not hashed again.
    /// </summary>
    /// <param name="baseDirectory">The output folder.</param>
    /// <param name="entryAssembly">The entry assembly's simple name, for finding the deps.json.</param>
    /// <param name="logger">Where files left out (held open by another process) and native libraries the workers lack are told, once.</param>
    /// <exception cref="EnvironmentSyncException">A file of code cannot be read, or the deps.json is not valid.</exception>
    public static ApplicationFolder Scan(string baseDirectory, string entryAssembly, ILogger logger)
    {
        var root = Path.GetFullPath(baseDirectory);
        var dependencies = AppDependencies.Read(root, entryAssembly);
        var files = new List<AppFile>();
        foreach (var path in EnumerateFiles(root))
        {
            var relative = Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/');
            var file = new AppFile(relative, path, runtimeSpecific: relative.StartsWith("runtimes/", StringComparison.OrdinalIgnoreCase));
            if (!file.RuntimeSpecific && !file.TryHash(logger))
            {
                continue;
            }

            files.Add(file);
        }

        files.Sort((a, b) => StringComparer.Ordinal.Compare(a.RelativePath, b.RelativePath));
        return new ApplicationFolder(root, dependencies, files, logger);
    }

    /// <summary>
    /// The snapshot for workers of <paramref name="platform"/>: every file but the runtime-specific ones it cannot use.
    /// The first call for a platform refuses a build that cannot run there and warns of each native library it lacks.
    /// </summary>
    /// <exception cref="EnvironmentSyncException">The build cannot run on <paramref name="platform"/>, or a file of code cannot be read.</exception>
    public EnvironmentSnapshot SnapshotFor(RuntimePlatform platform)
        => _snapshots.GetOrAdd(platform.RuntimeIdentifier, _ => new Lazy<EnvironmentSnapshot>(() => Build(platform))).Value;

    private EnvironmentSnapshot Build(RuntimePlatform platform)
    {
        RuntimeCompatibility.EnsureRunnable(Dependencies, platform, BaseDirectory);
        foreach (var missing in RuntimeCompatibility.MissingNativeLibraries(Dependencies, platform))
        {
            _logger.NativeLibraryMissing(
                missing.Library, string.Join(", ", missing.Packages), platform.RuntimeIdentifier, string.Join(", ", missing.Available));
        }

        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current, EntryAssembly = Dependencies.ApplicationName };
        var blobPaths = new Dictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        foreach (var file in _files)
        {
            if (file.RuntimeSpecific && (RuntimeCompatibility.IsForOtherRuntime(file.RelativePath, platform) || !file.TryHash(_logger)))
            {
                continue;
            }

            var hashed = file.Hashed!;
            blobPaths.TryAdd(Convert.ToHexStringLower(hashed.Sha256), file.FullPath);
            total += hashed.Length;
            manifest.Files.Add(new ManifestEntry
            {
                Path = file.RelativePath,
                Sha256 = UnsafeByteOperations.UnsafeWrap(hashed.Sha256),
                Size = hashed.Length,
                Executable = file.Executable,
            });
        }

        return new EnvironmentSnapshot(BaseDirectory, manifest, blobPaths, total);
    }

    private static IEnumerable<string> EnumerateFiles(string root)
    {
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var folder = pending.Pop();
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                yield return file;
            }

            foreach (var child in Directory.EnumerateDirectories(folder))
            {
                // Only the output folder's own: a content folder of the app may be named so (wwwroot/.well-known, data/ref).
                var name = Path.GetFileName(child);
                if (folder != root || (!name.StartsWith('.') && !SkippedFolders.Contains(name)))
                {
                    pending.Push(child);
                }
            }
        }
    }

    /// <summary>A Windows sharing or lock violation: another process holds the file open without letting others read it.</summary>
    private static bool IsHeldOpen(IOException ex) => (ex.HResult & 0xFFFF) is 32 or 33;

    private sealed record HashedFile(long Length, DateTime LastWriteUtc, byte[] Sha256);

    /// <summary>One file of the output folder, hashed when first needed.</summary>
    private sealed class AppFile(string relativePath, string fullPath, bool runtimeSpecific)
    {
        private readonly Lock _gate = new();

        public string RelativePath { get; } = relativePath;

        public string FullPath { get; } = fullPath;

        /// <summary>Whether it is under <c>runtimes/</c>, for some platforms only.</summary>
        public bool RuntimeSpecific { get; } = runtimeSpecific;

        public HashedFile? Hashed { get; private set; }

        /// <summary>Whether any execute bit is set; Windows has none, so nothing from it is executable on a worker.</summary>
        public bool Executable => !OperatingSystem.IsWindows()
            && (File.GetUnixFileMode(FullPath) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

        /// <summary>
        /// Hashes the file; false when it is gone, or held open by another process without read sharing and not code
        /// (the app's own log or database), which is then left out with a warning.
        /// </summary>
        /// <exception cref="EnvironmentSyncException">The file cannot be read and is code, or cannot be read for another reason.</exception>
        public bool TryHash(ILogger logger)
        {
            lock (_gate)
            {
                if (Hashed is not null)
                {
                    return true;
                }

                var info = new FileInfo(FullPath);
                if (!info.Exists)
                {
                    return false;
                }

                if (HashCache.TryGetValue(info.FullName, out var cached) && cached.Length == info.Length && cached.LastWriteUtc == info.LastWriteTimeUtc)
                {
                    Hashed = cached;
                    return true;
                }

                try
                {
                    using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
                    Hashed = new HashedFile(info.Length, info.LastWriteTimeUtc, SHA256.HashData(stream));
                }
                catch (IOException ex) when (IsHeldOpen(ex) && !CodeExtensions.Contains(Path.GetExtension(FullPath)))
                {
                    logger.FileHeldOpen(info.FullName, ex.Message);
                    return false;
                }
                catch (IOException ex)
                {
                    throw Unreadable(info.FullName, ex);
                }
                catch (UnauthorizedAccessException ex)
                {
                    throw Unreadable(info.FullName, ex);
                }

                HashCache[info.FullName] = Hashed;
                return true;
            }
        }

        private static EnvironmentSyncException Unreadable(string path, Exception ex) => new(
            $"The application file {path} could not be read for synchronization: {ex.Message} " +
            (ex is IOException io && IsHeldOpen(io)
                ? "Another process holds it open without letting others read it: close that process, or rebuild, and start the cluster again."
                : "Make it readable, or keep it out of the output folder, and start the cluster again."),
            ex);
    }
}
