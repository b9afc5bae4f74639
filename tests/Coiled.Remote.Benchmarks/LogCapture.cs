using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Benchmarks;

/// <summary>Keeps the warnings and errors a cluster logs, formatted, so that a benchmark can report them; prints each as it comes.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>A factory that logs warnings and errors to this capture only.</summary>
    public ILoggerFactory CreateFactory() => LoggerFactory.Create(builder => builder.AddProvider(this).SetMinimumLevel(LogLevel.Warning));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var error = exception is null ? string.Empty : $" ({exception.GetType().Name}: {exception.Message})";
                var line = $"{logLevel} {category}: {formatter(state, exception)}{error}";
                lines.Enqueue(line);
                Console.WriteLine($"   logged at {DateTime.UtcNow:HH:mm:ss.fff}: {line}");
            }
        }
    }
}
