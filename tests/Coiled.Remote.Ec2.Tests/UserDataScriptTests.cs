using System.Diagnostics;
using System.Text;

namespace Coiled.Remote.Ec2.Tests;

public sealed class UserDataScriptTests
{
    private const string Sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    // Presigned addresses as S3 writes them for temporary credentials: a long session token among the parameters.
    private static readonly Uri WorkerUrl = new(
        "https://coiled-remote-staging-123456789012-us-east-1.s3.us-east-1.amazonaws.com/sha256/" + Sha256 +
        "?X-Amz-Expires=600&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20261130%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20261130T120000Z&X-Amz-SignedHeaders=host&X-Amz-Security-Token=" + new string('A', 1200) + "&X-Amz-Signature=" + new string('f', 64));

    private static readonly Uri SecretsUrl = new(WorkerUrl.AbsoluteUri.Replace("/sha256/" + Sha256, "/boot/coiled-remote-1234abcd/0123", StringComparison.Ordinal));

    private static string Render() => UserDataScript.Render(new UserDataScript.Settings(
        7400, WorkerUrl, Sha256, SecretsUrl, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12)));

    [Fact]
    public void Render_PresignedAddressesWithSessionToken_FitsEc2UserDataLimitAndFetchesAndChecksTheWorker()
    {
        var script = Render();

        Encoding.UTF8.GetByteCount(script).Should().BeLessThan(UserDataScript.MaxBytes);
        script.Should().StartWith("#!/bin/bash\n").And.NotContain("\r");
        script.Should().Contain($"worker_url='{WorkerUrl.AbsoluteUri}'").And.Contain($"secrets_url='{SecretsUrl.AbsoluteUri}'");
        script.Should().Contain($"worker_sha256='{Sha256}'").And.Contain("sha256sum -c");
        script.Should().NotContain("dnf").And.NotContain("dotnet ", "the worker is self-contained: nothing is installed");
        script.Should().Contain("idle_timeout=1200").And.Contain("no_client_timeout=120").And.Contain("max_lifetime_minutes=720");
        script.Should().Contain("trap power_off EXIT", "whatever ends the script, the machine powers off and terminates");
    }

    [Fact]
    public void Render_FirstClientTimeout_StartsTheWorkerWithItBesideTheNoClientTimeout()
    {
        var settings = new UserDataScript.Settings(
            7400, WorkerUrl, Sha256, SecretsUrl, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), TimeSpan.FromHours(12)) { FirstClientTimeout = TimeSpan.FromMinutes(12) };

        var script = UserDataScript.Render(settings);

        script.Should().Contain("no_client_timeout=120\nfirst_client_timeout=720\n");
        script.Should().Contain("--no-client-timeout \"$no_client_timeout\" \\\n  --first-client-timeout \"$first_client_timeout\" \\\n");
        Render().Should().Contain("first_client_timeout=120\n", "without one, the worker waits for its first client as long as for any other");
    }

    [Fact]
    public void Render_DefaultSettings_StartsTheWorkerPollingEc2sInstanceMetadataForSpotInterruptions()
    {
        var script = Render();

        script.Should().Contain("instance_metadata=\"${COILED_REMOTE_INSTANCE_METADATA:-http://169.254.169.254/}\"\n");
        script.Should().Contain("  --instance-metadata \"$instance_metadata\" || status=$?");
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
    public void Secrets_TokenWithShellCharacters_IsRefused()
    {
        var secrets = () => UserDataScript.Secrets("token'; rm -rf / #", [1, 2, 3]);

        secrets.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Secrets_TokenAndCertificate_AreTheFirstLineAndBase64AfterIt()
    {
        var text = Encoding.ASCII.GetString(UserDataScript.Secrets("tok-en_1", [1, 2, 3]));

        text.Should().Be("tok-en_1\nAQID\n");
    }

    [Fact]
    public void Render_AddressWithQuote_IsRefused()
    {
        var render = () => UserDataScript.Render(new UserDataScript.Settings(
            7400, new Uri("https://example.invalid/a'b"), Sha256, SecretsUrl, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)));

        render.Should().Throw<ArgumentException>().WithMessage("*quote*");
    }

    [Fact]
    public void Render_HashThatIsNotSha256Hex_IsRefused()
    {
        var render = () => UserDataScript.Render(new UserDataScript.Settings(
            7400, WorkerUrl, "abc; reboot", SecretsUrl, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)));

        render.Should().Throw<ArgumentException>().WithMessage("*SHA-256*");
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
