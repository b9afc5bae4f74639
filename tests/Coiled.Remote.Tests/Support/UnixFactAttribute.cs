namespace Coiled.Remote.Tests.Support;

/// <summary>A fact about Unix file modes or signals; skipped, with that reason, on Windows.</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows())
        {
            Skip = "Unix file modes and signals do not exist on Windows";
        }
    }
}
