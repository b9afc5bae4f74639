namespace Coiled.Remote.Dashboard;

/// <summary>The page's files, embedded in this assembly: the dashboard works with no internet access and no build step.</summary>
internal static class DashboardAssets
{
    /// <summary>Each file's path on the server, its content type and its bytes, read once.</summary>
    public static readonly IReadOnlyDictionary<string, (string ContentType, byte[] Content)> Files = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal)
    {
        ["/"] = ("text/html; charset=utf-8", Read("index.html")),
        ["/dashboard.css"] = ("text/css; charset=utf-8", Read("dashboard.css")),
        ["/dashboard.js"] = ("text/javascript; charset=utf-8", Read("dashboard.js")),
    };

    private static byte[] Read(string name)
    {
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream("Coiled.Remote.Dashboard.Assets." + name)
            ?? throw new InvalidOperationException($"The dashboard's {name} is not embedded in {typeof(DashboardAssets).Assembly.GetName().Name}; the assembly was built wrongly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
