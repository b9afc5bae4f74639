using System.CommandLine;

namespace Coiled.Remote.Cli;

/// <summary>
/// <c>coiled-remote worker</c>: the worker daemon (<c>coiled-remote-worker</c>) run in this process through
/// <see cref="Worker.WorkerDaemon.RunAsync"/>, which the daemon's own program runs too.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var command = new Command("worker", "Run a worker on this machine for Cluster.ConnectAsync. Options are the worker daemon's: run `coiled-remote worker --help`.");
        command.SetAction((_, _) => RunAsync([]));
        return command;
    }

    public static Task<int> RunAsync(string[] arguments) => Worker.WorkerDaemon.RunAsync(arguments);
}
