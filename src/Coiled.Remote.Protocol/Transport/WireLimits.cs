namespace Coiled.Remote.Transport;

/// <summary>Sizes that bound what crosses the wire, shared by client and worker.</summary>
internal static class WireLimits
{
    /// <summary>Most execution slots a worker takes: each is a thread pool thread kept free, and the client keeps twice as many tasks in flight.</summary>
    public const int MaxSlots = 4096;

    /// <summary>Largest gRPC message either side accepts: one task batch or result batch.</summary>
    public const int MaxMessageBytes = 512 * 1024 * 1024;

    /// <summary>Largest serialized arguments of one task, leaving room for the batch envelope.</summary>
    public const int MaxTaskArgumentBytes = MaxMessageBytes - (1024 * 1024);

    /// <summary>Largest serialized result of one task, leaving room for the batch envelope.</summary>
    public const int MaxResultBytes = MaxMessageBytes - (1024 * 1024);

    /// <summary>Size of the chunks blobs are uploaded in.</summary>
    public const int UploadChunkBytes = 1024 * 1024;

    /// <summary>
    /// Missing blobs up to this size in all go in one unary call (UploadBlobs) rather than the Upload stream: a rebuild
    /// that changed a few files uploads them without the stream's set-up, and a new client process without compiling its path.
    /// </summary>
    public const int InlineUploadBytes = 256 * 1024;

    /// <summary>A batch stops taking tasks once its arguments reach this size (a single larger task still goes alone).</summary>
    public const int BatchTargetBytes = 1024 * 1024;

    /// <summary>Most tasks in one batch.</summary>
    public const int MaxTasksPerBatch = 8192;

    /// <summary>
    /// Most tasks a client may have sent on one task stream whose outcomes it has not received: the scheduler's credit
    /// window for a worker never passes it, and a worker ends a stream that does.
    /// </summary>
    public const int MaxTasksInFlight = 16384;

    /// <summary>
    /// An argument value at least this large, when the same object comes again in a call, travels once per worker
    /// (a <c>ShareValue</c>) and the tasks that pass it carry a reference to it.
    /// </summary>
    public const int MinSharedValueBytes = 64 * 1024;

    /// <summary>
    /// Most bytes of shared argument values the executor of one task stream keeps; it ends a stream that sends more.
    /// Larger than any one task's arguments, so that every value that can be sent at all can be shared.
    /// </summary>
    public const long MaxSharedValueBytes = 1024L * 1024 * 1024;

    /// <summary>Header that carries the cluster token on every call.</summary>
    public const string AuthorizationHeader = "authorization";

    /// <summary>
    /// Trailer of a task stream that ended because the executor process running its tasks died (its value says how):
    /// the worker itself is fine, and a new stream gets a new executor.
    /// </summary>
    public const string ExecutorLostTrailer = "coiled-remote-executor-lost";

    /// <summary>Scheme of the authorization header.</summary>
    public const string BearerPrefix = "Bearer ";
}
