namespace Coiled.Remote.Tests.Support;

/// <summary>An <see cref="IProgress{T}"/> that records each report on the reporting thread, unlike <see cref="Progress{T}"/>.</summary>
public sealed class SynchronousProgress<T> : IProgress<T>
{
    private readonly List<T> _reports = [];

    public IReadOnlyList<T> Reports
    {
        get
        {
            lock (_reports)
            {
                return [.. _reports];
            }
        }
    }

    public void Report(T value)
    {
        lock (_reports)
        {
            _reports.Add(value);
        }
    }

    public void Clear()
    {
        lock (_reports)
        {
            _reports.Clear();
        }
    }
}
