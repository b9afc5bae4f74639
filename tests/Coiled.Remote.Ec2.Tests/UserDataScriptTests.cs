using System.Diagnostics;
using System.Text;

namespace Coiled.Remote.Ec2.Tests;

public sealed class UserDataScriptTests
{
    private static string Render() => UserDataScript.Render(new UserDataScript.Settings(
        "local-ec2-test-token-0123456789", Coiled.Remote.Security.ClusterCertificate.Create("test", TimeSpan.FromHours(1)).ExportPfx(),
        7400, "0.1.0", new Uri("https://api.nuget.org/v3-flatcontainer/"), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12)));

    [Fact]
    public void Render_DefaultSettings_FitsEc2UserDataLimitAndNamesTheWorkerPackage()
    {
        var script = Render();

        Encoding.UTF8.GetByteCount(script).Should().BeLessThan(UserDataScript.MaxBytes);
        script.Should().StartWith("#!/bin/bash\n").And.NotContain("\r");
        script.Should().Contain("package_url='https://api.nuget.org/v3-flatcontainer/coiled.remote/0.1.0/coiled.remote.0.1.0.nupkg'");
        script.Should().Contain("idle_timeout=1200").And.Contain("no_client_timeout=120").And.Contain("max_lifetime_minutes=720");
        script.Should().Contain("trap power_off EXIT", "whatever ends the script, the machine powers off and terminates");
    }

    [Fact]
    public void Render_FirstClientTimeout_StartsTheWorkerWithItBesideTheNoClientTimeout()
    {
        var settings = new UserDataScript.Settings(
            "local-ec2-test-token-0123456789", [1, 2, 3], 7400, "0.1.0", new Uri("https://api.nuget.org/v3-flatcontainer/"),
            TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12)) { FirstClientTimeout = TimeSpan.FromMinutes(12) };

        var script = UserDataScript.Render(settings);

        script.Should().Contain("no_client_timeout=120\nfirst_client_timeout=720\n");
        script.Should().Contain("--no-client-timeout \"$no_client_timeout\" \\\n  --first-client-timeout \"$first_client_timeout\" || status=$?");
        Render().Should().Contain("first_client_timeout=120\n", "without one, the worker waits for its first client as long as for any other");
    }

    [Fact]
    public async Task Render_DefaultSettings_PassesBashSyntaxCheck()
    {
        var (code, output) = await RunAsync("bash", "-n", WriteScript(Render()));

        code.Should().Be(0, output);
    }

    [ToolFact("shellcheck")]
    public async Task Render_DefaultSettings_PassesShellcheck()
    {
        var shellcheck = ToolFactAttribute.Find("shellcheck");
        shellcheck.Should().NotBeNull("shellcheck checks the boot script; install it with eng/install-test-tools.sh (Debian package shellcheck)");

        var (code, output) = await RunAsync(shellcheck!, "--shell=bash", "--severity=style", WriteScript(Render()));

        code.Should().Be(0, output);
    }

    [Fact]
    public void Render_TokenWithShellCharacters_IsRefused()
    {
        var render = () => UserDataScript.Render(new UserDataScript.Settings(
            "token'; rm -rf / #", [1, 2, 3], 7400, "0.1.0", new Uri("https://example.invalid/"), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)));

        render.Should().Throw<ArgumentException>();
    }

    private static string WriteScript(string script)
    {
        var path = Path.Combine(Path.GetTempPath(), $"coiled-remote-user-data-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, script);
        return path;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output);
        }
        finally
        {
            File.Delete(arguments[^1]);
        }
    }
}
