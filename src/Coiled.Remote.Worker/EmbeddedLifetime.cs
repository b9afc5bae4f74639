using Microsoft.Extensions.Hosting;

namespace Coiled.Remote.Worker;

/// <summary>
/// The lifetime of a worker host inside another application's process: it starts and stops only when told, and leaves
/// the process's signals (SIGTERM, Ctrl+C) to that application, where the default console lifetime would take them over.
/// </summary>
internal sealed class EmbeddedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
