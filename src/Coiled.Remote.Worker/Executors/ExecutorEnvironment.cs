namespace Coiled.Remote.Worker.Executors;

/// <summary>What an executor runs: one synchronized environment, with the variables a client forwarded.</summary>
/// <param name="Id">The environment's id (hex SHA-256 of its manifest).</param>
/// <param name="Directory">Its folder in the cache: the app's files, links to the cached blobs.</param>
/// <param name="EntryAssembly">The caller's entry assembly, whose [Remote] methods the executor loads before the first task asks.</param>
/// <param name="Variables">The forwarded variables, set in the executor over the daemon's own.</param>
internal sealed record ExecutorEnvironment(string Id, string Directory, string EntryAssembly, IReadOnlyDictionary<string, string> Variables)
{
    /// <summary>The id, shortened, for messages.</summary>
    public string ShortId => Id[..Math.Min(12, Id.Length)];
}
