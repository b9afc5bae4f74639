namespace Coiled.Remote.Worker;

/// <summary>
/// The files of one folder (not its subfolders) by name in any case: a build made on Windows or macOS, whose file
/// systems ignore case, may name <c>newtonsoft.json.dll</c> what code asks for as <c>Newtonsoft.Json</c>. Read once,
/// since an environment's folder never changes. The exact name wins where two differ only in case; where neither is
/// the name asked for, there is no telling which is meant, and neither is taken.
/// </summary>
internal sealed class FolderIndex
{
    private readonly string _folder;
    private readonly Lazy<Dictionary<string, string?>> _byName;

    public FolderIndex(string folder)
    {
        _folder = folder;
        _byName = new Lazy<Dictionary<string, string?>>(Read);
    }

    /// <summary>The path of the file named <paramref name="fileName"/>, or of the one file so named in another case; null when the folder has none, or several.</summary>
    public string? Find(string fileName)
    {
        var exact = Path.Combine(_folder, fileName);
        if (File.Exists(exact))
        {
            return exact;
        }

        return _byName.Value.GetValueOrDefault(fileName);
    }

    /// <summary>Each name in any case, with its path; null for a name that several files have in different cases.</summary>
    private Dictionary<string, string?> Read()
    {
        var byName = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (Directory.Exists(_folder))
        {
            foreach (var path in Directory.EnumerateFiles(_folder))
            {
                var name = Path.GetFileName(path);
                byName[name] = byName.ContainsKey(name) ? null : path;
            }
        }

        return byName;
    }
}
