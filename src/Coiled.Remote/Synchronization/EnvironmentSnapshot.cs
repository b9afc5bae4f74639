using System.Collections.Concurrent;
using System.Security.Cryptography;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// The caller's application as the workers need it: every file of its output folder (entry assembly, project
/// references, NuGet assemblies, PDBs, content files, Linux native assets), each named by its SHA-256.
/// The shared framework is not part of it: workers have their own.
/// </summary>
internal sealed class EnvironmentSnapshot
{
    /// <summary>Folders of the output that workers never need.</summary>
    private static readonly HashSet<string> SkippedFolders = new(StringComparer.OrdinalIgnoreCase)
    {
        "coiled-remote-worker", "ref", "TestResults",
    };

    private static readonly ConcurrentDictionary<string, HashedFile> HashCache = new(StringComparer.Ordinal);

    private EnvironmentSnapshot(string baseDirectory, Manifest manifest, IReadOnlyDictionary<string, string> blobPaths, long totalBytes)
    {
        BaseDirectory = baseDirectory;
        Manifest = manifest;
        BlobPaths = blobPaths;
        TotalBytes = totalBytes;
    }

    public string BaseDirectory { get; }

    public Manifest Manifest { get; }

    /// <summary>Local file for each blob, keyed by lower-case hex SHA-256.</summary>
    public IReadOnlyDictionary<string, string> BlobPaths { get; }

    public long TotalBytes { get; }

    /// <summary>Captures the application in <paramref name="baseDirectory"/>; unchanged files are not hashed again.</summary>
    public static EnvironmentSnapshot Capture(string baseDirectory, string entryAssembly)
    {
        var root = Path.GetFullPath(baseDirectory);
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current, EntryAssembly = entryAssembly };
        var blobPaths = new Dictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        foreach (var path in EnumerateFiles(root).OrderBy(p => p, StringComparer.Ordinal))
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                continue;
            }

            var hash = Hash(info);
            var hex = Convert.ToHexStringLower(hash);
            blobPaths.TryAdd(hex, path);
            total += info.Length;
            manifest.Files.Add(new ManifestEntry
            {
                Path = Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/'),
                Sha256 = UnsafeByteOperations.UnsafeWrap(hash),
                Size = info.Length,
                Executable = IsExecutable(path),
            });
        }

        return new EnvironmentSnapshot(root, manifest, blobPaths, total);
    }

    /// <summary>Whether any execute bit is set; Windows has none, so nothing from it is executable on a worker.</summary>
    private static bool IsExecutable(string path)
        => !OperatingSystem.IsWindows()
            && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private static byte[] Hash(FileInfo file)
    {
        var stamp = new HashedFile(file.Length, file.LastWriteTimeUtc, []);
        if (HashCache.TryGetValue(file.FullName, out var cached) && cached.Length == stamp.Length && cached.LastWriteUtc == stamp.LastWriteUtc)
        {
            return cached.Sha256;
        }

        byte[] hash;
        try
        {
            using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            hash = SHA256.HashData(stream);
        }
        catch (IOException ex)
        {
            throw new EnvironmentSyncException($"The application file {file.FullName} could not be read for synchronization: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new EnvironmentSyncException($"The application file {file.FullName} could not be read for synchronization: {ex.Message}", ex);
        }

        HashCache[file.FullName] = stamp with { Sha256 = hash };
        return hash;
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
                if (IsWanted(root, child))
                {
                    pending.Push(child);
                }
            }
        }
    }

    private static bool IsWanted(string root, string folder)
    {
        var name = Path.GetFileName(folder);
        if (name.StartsWith('.') || SkippedFolders.Contains(name))
        {
            return false;
        }

        // runtimes/<rid>/: workers run Linux, so only Linux and Unix assets travel.
        var parent = Path.GetDirectoryName(folder);
        if (parent is not null && string.Equals(Path.GetFileName(parent), "runtimes", StringComparison.OrdinalIgnoreCase)
            && string.Equals(Path.GetDirectoryName(parent), root, StringComparison.Ordinal))
        {
            return name.StartsWith("linux", StringComparison.OrdinalIgnoreCase) || name.Equals("unix", StringComparison.OrdinalIgnoreCase);
        }

        return true;
    }

    private sealed record HashedFile(long Length, DateTime LastWriteUtc, byte[] Sha256);
}
