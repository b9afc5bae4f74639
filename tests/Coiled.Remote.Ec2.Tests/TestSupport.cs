using System.Net;
using Microsoft.Extensions.Logging;

// The local EC2 endpoint boots instances with bash.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Coiled.Remote.Ec2.Tests;

/// <summary>What the tests run remotely.</summary>
public static class Ec2Jobs
{
    [Remote]
    public static double Square(double x) => x * x;

    /// <summary>Scores item <paramref name="i"/> against a shared model, after a short pause so that items spread over the workers.</summary>
    [Remote]
    public static long ScoreShared(Shared<byte[]> model, int i)
    {
        Thread.Sleep(20);
        return (model.Value.Length * 256L) + model.Value[i];
    }

    /// <summary>The square of <paramref name="i"/>, after a pause long enough that a call of many items lasts a while on a few workers.</summary>
    [Remote]
    public static long SlowSquare(int i)
    {
        Thread.Sleep(50);
        return (long)i * i;
    }

    [Remote]
    public static string? Variable(string name) => Environment.GetEnvironmentVariable(name);

    /// <summary>The process the task ran in (each worker's executor is its own), after a short pause so that items spread over the workers.</summary>
    [Remote]
    public static int SlowProcessId(int item)
    {
        Thread.Sleep(50);
        return Environment.ProcessId;
    }
}

/// <summary>Short waits for the local endpoint, and the facts the backend would read from the machine.</summary>
internal static class TestTuning
{
    public static readonly IPAddress CallerAddress = IPAddress.Parse("203.0.113.7");

    public static Ec2Tuning Fast(OwnerIdentity? owner = null) => new()
    {
        PollInterval = TimeSpan.FromMilliseconds(100),
        // Instances unpack and start the self-contained worker: on a busy machine, beside other test assemblies, that can take a minute.
        BootTimeout = TimeSpan.FromMinutes(3),
        ProbeTimeout = TimeSpan.FromMilliseconds(500),
        TeardownTimeout = TimeSpan.FromSeconds(30),
        FirstRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        InstanceNotFoundPatience = TimeSpan.FromSeconds(5),
        UnansweredLaunchPatience = TimeSpan.FromSeconds(2),
        InstanceProfilePatience = TimeSpan.FromSeconds(1),
        HandleInterrupts = false,
        ResolveCallerAddress = _ => Task.FromResult(CallerAddress),
        Owner = owner,
    };
}

/// <summary>
/// A folder of self-contained workers for both architectures where the arm64 one is a link to the x64 one: the local
/// EC2 endpoint "boots" Graviton instances on this x64 machine. Deleted on dispose.
/// </summary>
internal sealed class Arm64AsX64Bundles : IDisposable
{
    public Arm64AsX64Bundles()
    {
        var x64 = WorkerBundle.Find(InstanceArchitecture.X64);
        Path = Directory.CreateTempSubdirectory("coiled-remote-bundles-").FullName;
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, WorkerBundle.FileName("linux-arm64")), x64.Path);
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, WorkerBundle.FileName("linux-x64")), x64.Path);
    }

    public string Path { get; }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Keeps every log line, for assertions.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public void Dispose()
    {
    }

    private sealed class ListLogger(ListLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (provider._lines)
            {
                provider._lines.Add(formatter(state, exception));
            }
        }
    }
}
