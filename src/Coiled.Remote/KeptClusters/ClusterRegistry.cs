using System.Text.Json;
using System.Text.RegularExpressions;

namespace Coiled.Remote.KeptClusters;

/// <summary>
/// This machine's named clusters: one JSON file per name in a folder only its user can open (0700), each file readable
/// by that user alone (0600), since it holds the cluster's token. A start or stop holds the name's lock file meanwhile,
/// so that two processes never start two clusters of one name.
/// </summary>
internal sealed partial class ClusterRegistry(string directory)
{
    private const UnixFileMode PrivateFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(20);

    /// <summary>The registry's folder.</summary>
    public string Directory { get; } = directory;

    /// <summary>What a valid name is, for messages.</summary>
    public const string NameRule = "letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit";

    /// <summary>Whether <paramref name="name"/> can name a cluster: it becomes a file name.</summary>
    public static bool IsValidName(string? name) => name is not null && ValidName().IsMatch(name);

    /// <summary>
    /// Takes the lock of <paramref name="name"/>, waiting while another process (or another start in this one) holds
    /// it; dispose the result to let go. A lock whose holder died is free again: the operating system lets go of it.
    /// </summary>
    /// <exception cref="TimeoutException">Another holder kept it for <paramref name="patience"/>.</exception>
    public async Task<IDisposable> LockAsync(string name, TimeSpan patience, TimeProvider time, CancellationToken cancellationToken)
    {
        EnsureFolder();
        var path = Path.Combine(Directory, CheckedName(name) + ".lock");
        var started = time.GetTimestamp();
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive lock (flock on Unix) that ends with the process that holds it.
                return new FileStream(path, PrivateFileOptions(FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException ex) when (IsHeldElsewhere(ex) && time.GetElapsedTime(started) < patience)
            {
                await Task.Delay(LockRetry, time, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex) when (IsHeldElsewhere(ex))
            {
                throw new TimeoutException(
                    $"Named cluster '{name}' was being started or stopped by another process for {patience.TotalSeconds:0} s ({path} is locked); try again once it is done.", ex);
            }
        }
    }

    /// <summary>The cluster registered as <paramref name="name"/>, or null.</summary>
    /// <exception cref="InvalidDataException">Its file is not a registry entry (damaged, or written by hand).</exception>
    public RegisteredCluster? Read(string name)
    {
        var path = PathOf(name);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            var entry = RegistryJson.Read(bytes);
            return entry.Name == name ? entry : throw new InvalidDataException($"{path} is the entry of named cluster '{entry.Name}', not of '{name}'.");
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is not a named cluster's registry entry: {ex.Message}", ex);
        }
    }

    /// <summary>Writes <paramref name="cluster"/>'s entry whole: to a new file, then renamed over the old one.</summary>
    public void Write(RegisteredCluster cluster)
    {
        EnsureFolder();
        var path = PathOf(cluster.Name);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temporary, PrivateFileOptions(FileMode.CreateNew, FileAccess.Write, FileShare.None)))
            {
                RegistryJson.Write(file, cluster);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Removes the entry of <paramref name="name"/>; false when there was none.</summary>
    public bool Delete(string name)
    {
        var path = PathOf(name);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>The names registered, in order.</summary>
    public IReadOnlyList<string> Names()
        => System.IO.Directory.Exists(Directory)
            ? [.. System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Where(IsValidName).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>How a registry file opens; one it creates is its user's alone (0600; on Windows the profile's own access rules apply).</summary>
    private static FileStreamOptions PrivateFileOptions(FileMode mode, FileAccess access, FileShare share)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFile;
        }

        return options;
    }

    private string PathOf(string name) => Path.Combine(Directory, CheckedName(name) + ".json");

    /// <summary>A name becomes a file name: one that is not a cluster name (a path, "..") never reaches the file system.</summary>
    private static string CheckedName(string name)
        => IsValidName(name) ? name : throw new ArgumentException($"'{name}' is not a cluster name: use {NameRule}.", nameof(name));

    /// <summary>
    /// Whether opening the lock failed because another holder has it, not for another reason (a full or read-only
    /// disk): on Windows a sharing or lock violation (HRESULT 0x80070020, 0x80070021), elsewhere flock's EWOULDBLOCK,
    /// which .NET gives as the error number (11 on Linux, 35 on macOS and BSD).
    /// </summary>
    private static bool IsHeldElsewhere(IOException ex)
        => OperatingSystem.IsWindows() ? (ex.HResult & 0xFFFF) is 32 or 33 : ex.HResult is 11 or 35;

    private void EnsureFolder()
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(Directory);
            return;
        }

        System.IO.Directory.CreateDirectory(Directory, PrivateFolder);

        // A folder made before, or by hand, is made private too: its files hold tokens.
        if ((File.GetUnixFileMode(Directory) & ~PrivateFolder) != 0)
        {
            File.SetUnixFileMode(Directory, PrivateFolder);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex ValidName();
}
