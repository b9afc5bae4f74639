using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// A client's task stream as an executor serves it: relayed by the daemon (<see cref="RelayedStream"/>) or on a
/// direct route, the client's own connection (<see cref="DirectStream"/>). One reader and one writer at a time; every
/// operation blocks.
/// </summary>
internal interface IExecutorStream : IDisposable
{
    /// <summary>
    /// Whether the end of the requests means "run what was sent and send every outcome" (true) or "the client is gone,
    /// drop everything" (false).
    /// </summary>
    bool EndCompletes { get; }

    /// <summary>The next request, with the arguments of a task batch as its payload; null at the end of the requests.</summary>
    /// <exception cref="IOException">The connection broke.</exception>
    /// <exception cref="InvalidDataException">The connection broke inside a frame, or a frame is larger than allowed.</exception>
    FrameStream.Frame<RunRequest>? Read();

    /// <summary>Sends a reply, with the results of a result batch as <paramref name="payload"/>.</summary>
    void Write(RunReply reply, ReadOnlySpan<byte> payload);

    /// <summary>Says that every outcome was sent, and that nothing more comes.</summary>
    void Finish();

    /// <summary>Tells the client, where it hears this executor directly, why its stream ends now; from any thread.</summary>
    void Refuse(string message);
}
