using System.Runtime.InteropServices;

namespace Coiled.Remote.Worker;

/// <summary>
/// Handlers for the signals a terminal sends to every process of its foreground group: Ctrl+C (SIGINT), Ctrl+\ (SIGQUIT)
/// and its closing (SIGHUP). Held until disposed.
/// </summary>
internal sealed class TerminalSignals : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <summary>
    /// Ignores the terminal's signals. An executor always does: its daemon decides when it ends (it closes the
    /// executor's standard input). A kept cluster's daemon does too: it outlives the program and the terminal that
    /// started it. SIGTERM still ends either.
    /// </summary>
    public static TerminalSignals Ignore()
    {
        var signals = new TerminalSignals();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGQUIT, PosixSignal.SIGHUP })
        {
            signals.Add(signal, context => context.Cancel = true);
        }

        return signals;
    }

    /// <summary>Handles <paramref name="signal"/> with <paramref name="handler"/>; a signal the platform does not have is skipped.</summary>
    public void Add(PosixSignal signal, Action<PosixSignalContext> handler)
    {
        try
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, handler));
        }
        catch (PlatformNotSupportedException)
        {
            // Windows has no SIGHUP or SIGQUIT; its Ctrl+C does not reach a process started without a window.
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
