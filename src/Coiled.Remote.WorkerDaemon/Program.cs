// The worker daemon's program: everything it does is in Coiled.Remote.Worker, which the command-line tool runs too.
return await Coiled.Remote.Worker.WorkerDaemon.RunAsync(args);
