using Coiled.Remote.Transport;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// Storage every worker of a cluster can read (S3 for EC2 clusters). The application's files go there once, and
/// each worker fetches what it lacks from it, so what the caller uploads does not grow with the number of workers.
/// </summary>
internal interface IBlobStaging
{
    /// <summary>
    /// Makes sure the file at <paramref name="path"/>, whose SHA-256 is <paramref name="sha256"/> (lowercase hex), is
    /// staged (uploading it at most once, however many workers ask at once) and returns an address a worker can GET it
    /// from without credentials of its own.
    /// </summary>
    Task<Uri> StageAsync(string sha256, string path, long size, CancellationToken cancellationToken);

    /// <summary>
    /// As for a file, for the first <paramref name="size"/> bytes of <paramref name="content"/> (a shared argument
    /// value): the staging holds the buffer (<see cref="RentedBuffer.Retain"/>) for as long as it uploads from it, so
    /// the caller may let go of its own hold as soon as this returns or is cancelled.
    /// </summary>
    Task<Uri> StageAsync(string sha256, RentedBuffer content, int size, CancellationToken cancellationToken);
}
