namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// A fact that needs a program beyond the .NET SDK, which <c>eng/install-test-tools.sh</c> installs. Where the program
/// is missing it is skipped with the reason, except under CI (<c>CI=true</c>, as <c>.ci/run</c> sets), where it runs and
/// fails, so that a CI machine without the tool cannot pass by skipping.
/// </summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string tool)
    {
        if (Find(tool) is null && !IsCi)
        {
            Skip = $"{tool} is not installed; eng/install-test-tools.sh installs it (with CI=true this test runs and fails without it)";
        }
    }

    /// <summary>Whether the tests run under CI, where a missing tool is a failure rather than a reason to skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The program's full path, found on PATH as a shell would (with <c>.exe</c> on Windows); null when it is not there.</summary>
    public static string? Find(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(folder => OperatingSystem.IsWindows() ? new[] { Path.Combine(folder, tool + ".exe"), Path.Combine(folder, tool) } : [Path.Combine(folder, tool)])
            .FirstOrDefault(File.Exists);
}
