namespace Coiled.Remote.Worker;

/// <summary>
/// Removes what a worker that crashed mid-way left in the cache: partial uploads (<c>blobs/.upload-*</c>) and
/// half-built or set-aside environment folders (<c>envs/.staging-*</c>, <c>envs/.altered-*</c>). Names are unique and
/// never read, so they only take space; those not written to for <see cref="MinimumAge"/> belong to no live worker
/// (several workers may share one cache, and an upload in progress writes to its file all the time).
/// </summary>
internal static class CacheLeftovers
{
    public static readonly TimeSpan MinimumAge = TimeSpan.FromMinutes(10);

    /// <summary>Deletes the files and folders in <paramref name="directory"/> whose names start with one of <paramref name="prefixes"/> and that are old enough.</summary>
    /// <returns>How many were deleted.</returns>
    public static int Sweep(string directory, IReadOnlyList<string> prefixes, DateTime nowUtc)
        => Sweep(new DirectoryInfo(directory).EnumerateFileSystemInfos(), prefixes, nowUtc);

    /// <summary>Deletes those of <paramref name="entries"/> (as listed: some may be gone since) whose names start with one of <paramref name="prefixes"/> and that are old enough.</summary>
    internal static int Sweep(IEnumerable<FileSystemInfo> entries, IReadOnlyList<string> prefixes, DateTime nowUtc)
    {
        var deleted = 0;
        foreach (var entry in entries)
        {
            // Exists first: another worker sharing the cache may have removed or renamed it since it was listed, and the
            // times and attributes of an entry that is gone read as defaults (1601, and -1).
            if (!prefixes.Any(prefix => entry.Name.StartsWith(prefix, StringComparison.Ordinal)) || !entry.Exists || nowUtc - entry.LastWriteTimeUtc < MinimumAge)
            {
                continue;
            }

            try
            {
                if (entry is DirectoryInfo folder)
                {
                    BlobStore.DeleteFolder(folder.FullName);
                }
                else
                {
                    // Windows refuses to delete a read-only file; elsewhere a file's mode does not matter to its deletion.
                    if (OperatingSystem.IsWindows())
                    {
                        entry.Attributes &= ~FileAttributes.ReadOnly;
                    }

                    entry.Delete();
                }

                deleted++;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // Another worker sharing the cache removed it first (its attributes then read as -1, which cannot be set
                // back), or it is still in use; the next start tries again.
            }
        }

        return deleted;
    }
}
