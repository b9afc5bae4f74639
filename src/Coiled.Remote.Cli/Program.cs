// coiled-remote: the command-line side of Coiled.Remote.
//   coiled-remote worker ...        a worker on this machine, for Cluster.ConnectAsync (the worker daemon's own options)
//   coiled-remote ls                this machine's named clusters: workers, age, idle time, cost
//   coiled-remote stop NAME         stop a named cluster's workers and check that they are gone
//   coiled-remote ec2 ls            EC2 clusters of a region with uptime and cost so far
//   coiled-remote ec2 cleanup       remove EC2 clusters whose caller is gone or whose lifetime ended
using System.CommandLine;
using Coiled.Remote.Cli;

if (args.Length > 0 && args[0] == "worker")
{
    // The worker daemon parses its own options; pass them through untouched.
    return await WorkerCommand.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == Coiled.Remote.Worker.Executors.ExecutorHost.Mode)
{
    // An executor process that a worker started from this program (which found itself as its entry assembly).
    return await WorkerCommand.RunAsync(args);
}

var root = new RootCommand("Coiled.Remote: run [Remote] C# methods on workers you start by hand or on EC2.")
{
    WorkerCommand.Create(),
    Ec2Commands.Create(),
};
foreach (var command in NamedClusterCommands.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
