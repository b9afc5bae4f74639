using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// The MessagePack settings used for every argument and result, on the client and on the worker alike:
/// contractless, so that records and plain classes travel without serializer attributes (see
/// <see cref="RemoteResolver"/>), and hardened for untrusted input.
/// </summary>
internal static class RemoteSerializer
{
    /// <summary>
    /// How many levels of nested objects, structs and collections an argument or a result may have. Writing stops
    /// there with an error (a reference cycle reaches it at once), which keeps the writer well inside a thread-pool
    /// thread's stack of about 1.5 MB, and the reader accepts what the writer wrote.
    /// </summary>
    public const int MaxDepth = 500;

    /// <summary>
    /// Readers allow one level more than <see cref="MaxDepth"/>: a collection of scalars (<c>List&lt;int&gt;</c>) is
    /// a level for the reader, but the writer does not count it, since nothing can nest inside it. Keys of dictionaries
    /// and sets are compared as <see cref="RemoteSecurity"/> says.
    /// </summary>
    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(RemoteResolver.Instance)
        .WithSecurity(new RemoteSecurity(MaxDepth + 1));

    private static int _warmedUp;

    /// <summary>
    /// Has a thread-pool thread put the serializer to first use (its resolvers, formatters and their code), once per
    /// process: a cluster's start does this while it connects, so that its first call does not wait for it. Tens of
    /// milliseconds in a new process, which a run that attaches to kept workers would otherwise spend on its first task.
    /// </summary>
    public static void WarmUpInBackground()
    {
        if (Interlocked.Exchange(ref _warmedUp, 1) != 0)
        {
            return;
        }

        _ = Task.Run(() =>
        {
            try
            {
                var bytes = MessagePackSerializer.Serialize<object?[]>([1, 2.0, "text", new[] { 1.0 }, null], Options);
                MessagePackSerializer.Deserialize<object?[]>(bytes, Options);
            }
            catch (MessagePackSerializationException)
            {
                // Only a warm-up: the calls meet whatever is wrong themselves.
            }
        });
    }
}
