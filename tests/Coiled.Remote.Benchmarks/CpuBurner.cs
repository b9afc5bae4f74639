using System.Diagnostics;

namespace Coiled.Remote.Benchmarks;

/// <summary>A <c>yes &gt; /dev/null</c> process that keeps one core busy until disposed, or until this process ends.</summary>
internal sealed class CpuBurner : IDisposable
{
    private readonly Process _shell;
    private readonly Process _yes;

    private CpuBurner(Process shell, Process yes)
    {
        _shell = shell;
        _yes = yes;
    }

    /// <summary>Processor time the burner has used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _yes.Refresh();
            return _yes.TotalProcessorTime;
        }
    }

    /// <summary>Whether the burner is still running.</summary>
    public bool Running => !_shell.HasExited && !_yes.HasExited;

    public static CpuBurner Start()
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");

        // The shell waits on its standard input, which closes when this process closes it or dies however it dies;
        // then it stops yes. Dispose also kills both.
        start.ArgumentList.Add("yes > /dev/null & echo $!; read -r _; kill $!");
        var shell = Process.Start(start) ?? throw new InvalidOperationException("Could not start sh to run yes > /dev/null.");
        try
        {
            var line = shell.StandardOutput.ReadLine();
            if (!int.TryParse(line, out var pid))
            {
                throw new InvalidOperationException($"sh -c 'yes > /dev/null &' printed '{line}' instead of the process id of yes.");
            }

            return new CpuBurner(shell, Process.GetProcessById(pid));
        }
        catch
        {
            shell.Kill(entireProcessTree: true);
            shell.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            _shell.StandardInput.Close();
        }
        catch (IOException)
        {
            // The shell is gone already; killing the tree below stops yes if it is not.
        }

        if (!_shell.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            _shell.Kill(entireProcessTree: true);
            _shell.WaitForExit();
        }

        if (!_yes.HasExited)
        {
            _yes.Kill();
        }

        _yes.Dispose();
        _shell.Dispose();
    }
}
