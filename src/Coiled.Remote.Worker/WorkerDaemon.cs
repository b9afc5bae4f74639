using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using Coiled.Remote.Worker.Executors;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// The worker daemon, <c>coiled-remote-worker</c>, as one entry point: the daemon's own program and the command-line
/// tool's <c>coiled-remote worker</c> both run it, so that its options and behaviour have a single implementation. With
/// <see cref="ExecutorHost.Mode"/> first, the process is one of a daemon's executors instead.
/// </summary>
internal static class WorkerDaemon
{
    /// <summary>Runs the daemon (or an executor) with <paramref name="args"/> until it stops; returns the process's exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == ExecutorHost.Mode)
        {
            // An executor started by the daemon: first, before anything a daemon needs is loaded, so that it starts fast. It
            // exits through Environment.Exit, which does not wait for threads a task started.
            Environment.Exit(await ExecutorHost.RunAsync(args[1..]).ConfigureAwait(false));
        }

        WorkerCommandLine options;
        try
        {
            options = WorkerCommandLine.Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"coiled-remote-worker: {ex.Message}");
            Console.Error.WriteLine(WorkerCommandLine.Usage);
            return 2;
        }

        // First, before anything that takes time: a Ctrl+C in the terminal that started a kept cluster's worker must
        // not end it even while it starts.
        using var terminal = options.IgnoreInterrupt ? TerminalSignals.Ignore() : null;
        var (token, tokenError) = WorkerToken.Read(options, Console.Error);
        if (token is null)
        {
            Console.Error.WriteLine($"coiled-remote-worker: {tokenError}");
            return 2;
        }

        using var loggerFactory = LoggerFactory.Create(logging => logging
            .AddSimpleConsole(console => console.SingleLine = true)
            .SetMinimumLevel(LogLevel.Warning)
            // The host's own report of a failed start repeats, with a stack trace, the one line this program prints.
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None));
        var cache = options.CacheDirectory ?? Coiled.Remote.LocalProcessBackend.DefaultCacheDirectory();

        X509Certificate2? certificate;
        try
        {
            certificate = options.CertificateFile is null ? null : X509CertificateLoader.LoadPkcs12FromFile(options.CertificateFile, password: null);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException)
        {
            Console.Error.WriteLine($"coiled-remote-worker: cannot load the certificate {options.CertificateFile}: {ex.Message}. Pass a PKCS#12 (.pfx) file without password.");
            return 2;
        }

        WorkerHost host;
        try
        {
            host = await WorkerHost.StartAsync(new WorkerHostOptions
            {
                Listen = options.Listen,
                Token = token,
                CacheDirectory = cache,
                // A worker that ignores interrupts takes the process's signals itself, below, instead of the host's lifetime.
                OwnsProcess = !options.IgnoreInterrupt,
                Executors = ExecutorOptions.ForThisProgram(options.ExecutorIdleTimeout) with { KeepSpare = options.SpareExecutor, SpareTimeout = options.SpareTimeout },
                Slots = options.Slots,
                MaxConnections = options.MaxConnections,
                IdleTimeout = options.IdleTimeout,
                NoClientTimeout = options.NoClientTimeout,
                FirstClientTimeout = options.FirstClientTimeout,
                Certificate = certificate,
                InstanceMetadata = options.InstanceMetadata,
                LoggerFactory = loggerFactory,
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (WorkerListenException ex)
        {
            Console.Error.WriteLine($"coiled-remote-worker: cannot start: {ex.Message}");
            return 2;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"coiled-remote-worker: cannot start: {ex.Message}");
            return 1;
        }

        Console.Out.WriteLine($"coiled-remote-worker listening on {host.Address}");
        if (certificate is not null)
        {
            // Clients pin this: Cluster.ConnectAsync with a WorkerEndpoint whose CertificateThumbprint is this value.
            Console.Out.WriteLine($"coiled-remote-worker certificate sha256 {Convert.ToHexStringLower(certificate.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256))}");
        }

        Console.Out.Flush();

        if (terminal is not null)
        {
            // SIGTERM stops the worker as asked, in place of the host's lifetime that a kept worker goes without.
            terminal.Add(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                host.Runtime.RequestStop("the process was asked to stop (SIGTERM)");
            });
        }

        var stop = host.StopRequested;
        if (options.ExitWithStdin)
        {
            // The parent holds our standard input open; end of file means it is gone, however it died.
            var stdinClosed = Task.Run(async () =>
            {
                var buffer = new char[256];
                while (await Console.In.ReadAsync(buffer.AsMemory()).ConfigureAwait(false) > 0)
                {
                }

                return "standard input closed (the parent process is gone)";
            });
            stop = await Task.WhenAny(stop, stdinClosed).ConfigureAwait(false);
        }

        var reason = await stop.ConfigureAwait(false);
        await host.DisposeAsync().ConfigureAwait(false);
        Console.Out.WriteLine($"coiled-remote-worker {host.WorkerId}: stopped: {reason}");

        if (options.PowerOffOnExit)
        {
            using var poweroff = Process.Start(new ProcessStartInfo("systemctl", "poweroff") { UseShellExecute = false });
        }

        return 0;
    }
}
