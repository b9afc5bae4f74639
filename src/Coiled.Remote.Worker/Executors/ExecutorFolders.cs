using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The worker daemon's executors' folder, which holds each executor's private folder (its socket's, its working
/// directory's). It is made when the first executor starts (a daemon that never starts one leaves nothing): under the
/// cache, or, when the cache is too deep for socket paths, a private temporary folder. It is deleted when the daemon's
/// executors have ended, and the folders of daemons killed before they could clean up are deleted when the next starts.
/// </summary>
internal sealed class ExecutorFolders
{
    /// <summary>A Unix socket's path must fit in 108 bytes, with its terminating NUL.</summary>
    private const int MaxSocketPathBytes = 100;

    /// <summary>How the executors' folder of a daemon whose cache is too deep for socket paths is named in the temporary folder, before its process id.</summary>
    private const string TemporaryPrefix = "coiled-remote-executors-";

    private readonly ILogger _logger;
    private readonly Lazy<string> _root;
    private int _next;

    /// <summary>Deletes the leftover folders of daemons that are gone; the daemon's own folder is made when first needed.</summary>
    /// <param name="cacheDirectory">The worker's cache: executors' private folders go under <c>executors/</c> in it.</param>
    /// <param name="logger">Where folders that could not be deleted are told.</param>
    public ExecutorFolders(string cacheDirectory, ILogger logger)
    {
        _logger = logger;
        var parent = Path.Combine(cacheDirectory, "executors");
        Directory.CreateDirectory(parent);
        DeleteLeftovers(parent, string.Empty, logger);
        DeleteLeftovers(Path.GetTempPath(), TemporaryPrefix, logger);
        _root = new Lazy<string>(() => CreateRoot(parent));
    }

    /// <summary>The path of a new executor's private folder, which the executor makes; the executors' folder is made first if need be.</summary>
    public string Next() => Path.Combine(_root.Value, Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture));

    /// <summary>Deletes the executors' folder, if it was made, once its executors ended; one that cannot be deleted is told.</summary>
    public void Delete()
    {
        if (_root.IsValueCreated)
        {
            try
            {
                Directory.Delete(_root.Value, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.ExecutorsFolderNotDeleted(_root.Value, ex.Message);
            }
        }
    }

    /// <summary>
    /// The daemon's executors' folder, made when the first executor starts (a daemon that never starts one leaves
    /// nothing): under the cache, or, when the cache is too deep for socket paths, a private temporary folder.
    /// </summary>
    private static string CreateRoot(string parent)
    {
        var root = Path.Combine(parent, $"{Environment.ProcessId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}");
        if (Encoding.UTF8.GetByteCount(Path.Combine(root, "999999", "link")) > MaxSocketPathBytes)
        {
            return Directory.CreateTempSubdirectory($"{TemporaryPrefix}{Environment.ProcessId}-").FullName;
        }

        BlobStore.CreatePrivateDirectory(root);
        return root;
    }

    /// <summary>
    /// Deletes the executor folders (named <paramref name="prefix"/>, a process id, a dash) of daemons that are gone, killed
    /// before they could clean up.
    /// </summary>
    private static void DeleteLeftovers(string parent, string prefix, ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (var folder in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var name = Path.GetFileName(folder)[prefix.Length..];
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    logger.LeftoverFolderNotDeleted(folder, ex.Message);
                }
            }
        }
    }
}
