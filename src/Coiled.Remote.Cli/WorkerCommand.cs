using System.CommandLine;
using System.Reflection;

namespace Coiled.Remote.Cli;

/// <summary>
/// <c>coiled-remote worker</c>: the worker daemon (<c>coiled-remote-worker</c>) run in this process through its own
/// entry point, so that its options and behaviour have a single implementation.
/// </summary>
internal static class WorkerCommand
{
    private const string WorkerAssembly = "coiled-remote-worker";

    public static Command Create()
    {
        var command = new Command("worker", "Run a worker on this machine for Cluster.ConnectAsync. Options are the worker daemon's: run `coiled-remote worker --help`.");
        command.SetAction((_, _) => RunAsync([]));
        return command;
    }

    public static async Task<int> RunAsync(string[] arguments)
    {
        var entry = Assembly.Load(new AssemblyName(WorkerAssembly)).EntryPoint
            ?? throw new InvalidOperationException($"{WorkerAssembly}.dll has no entry point.");
        var result = entry.Invoke(null, [arguments]);
        return result switch
        {
            Task<int> task => await task.ConfigureAwait(false),
            int code => code,
            _ => 0,
        };
    }
}
