using System.Globalization;

namespace Coiled.Remote.Ec2;

/// <summary>How costs and durations read in the log line a cluster writes when it closes and in <c>coiled-remote ec2 ls</c>.</summary>
internal static class CostText
{
    /// <summary>E.g. <c>4 x c7i.large for 6m12s ≈ $0.04</c>.</summary>
    public static string CostSummary(int count, string instanceType, TimeSpan duration, decimal? cost)
        => CostSummary([(count, instanceType)], duration, cost);

    /// <summary>E.g. <c>3 x c7i.large + 1 x m7i.large for 6m12s ≈ $0.04</c>.</summary>
    public static string CostSummary(IReadOnlyList<(int Count, string InstanceType)> instances, TimeSpan duration, decimal? cost)
    {
        var money = cost switch
        {
            null => "cost unknown (no price for this instance type)",
            < 0.01m => "≈ < $0.01",
            { } c => "≈ $" + c.ToString("0.00", CultureInfo.InvariantCulture),
        };
        return $"{string.Join(" + ", instances.Select(i => $"{i.Count} x {i.InstanceType}"))} for {FormatDuration(duration)} {money}";
    }

    /// <summary>E.g. <c>42s</c>, <c>6m12s</c>, <c>3h05m</c>.</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        var seconds = (long)Math.Max(0, Math.Round(duration.TotalSeconds));
        return seconds switch
        {
            < 60 => $"{seconds}s",
            < 3600 => $"{seconds / 60}m{seconds % 60:00}s",
            _ => $"{seconds / 3600}h{seconds / 60 % 60:00}m",
        };
    }
}
