using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// A client's task stream relayed by the daemon on the executor's link: the requests end when the daemon completes
/// its writes (run what was sent) or sends an empty frame (the client is gone).
/// </summary>
internal sealed class RelayedStream(ExecutorLink link) : IExecutorStream
{
    public bool EndCompletes => true;

    public FrameStream.Frame<RunRequest>? Read()
    {
        var frame = link.Read(RunRequest.Parser);
        if (frame is { Header.KindCase: not (RunRequest.KindOneofCase.Tasks or RunRequest.KindOneofCase.Cancel or RunRequest.KindOneofCase.Share or RunRequest.KindOneofCase.Release or RunRequest.KindOneofCase.ReturnTasks) } end)
        {
            // An empty frame: the daemon says the client is gone.
            end.Payload?.Release();
            throw new IOException("The daemon ended the stream: its client is gone.");
        }

        return frame;
    }

    public void Write(RunReply reply, ReadOnlySpan<byte> payload) => link.Write(reply, payload);

    public void Finish()
    {
        link.Write(new RunReply(), []);
        link.CompleteWrites();
    }

    /// <summary>The daemon enforces the same limits first and tells the client itself.</summary>
    public void Refuse(string message)
    {
    }

    public void Dispose() => link.Dispose();
}
