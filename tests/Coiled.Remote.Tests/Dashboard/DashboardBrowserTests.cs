using Coiled.Remote.Ec2.Tests;
using Coiled.Remote.Tests.Support;
using Microsoft.Playwright;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser: headless Chromium (the Debian package <c>chromium</c>, which
/// <c>eng/install-test-tools.sh</c> installs) driven by Playwright. The page it sees is saved as
/// <c>artifacts/test/dashboard.png</c>; with <c>COILED_REMOTE_UPDATE_DOCS=1</c> it also replaces
/// <c>docs/dashboard.png</c>, which the README shows: run it so whenever the page changes.
/// </summary>
public sealed class DashboardBrowserTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [ToolFact("chromium")]
    public async Task Page_AfterAMapWithAFailure_ShowsBothWorkers_TheCallAtItsTotal_AndTheError()
    {
        var chromium = ToolFactAttribute.Find("chromium")
            ?? throw new InvalidOperationException("Chromium is not installed (CI=true makes this test run without it): run eng/install-test-tools.sh, which installs the Debian package chromium.");
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        (await cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 100)).WaitAsync(Safety)).Should().Equal(Enumerable.Range(0, 100));
        var outcomes = await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 200).Select(i => (double)i)).WaitAsync(Safety);
        outcomes.Count(o => !o.Succeeded).Should().Be(1);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            // Root in a container has no user namespaces for Chromium's sandbox.
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1200, Height = 900 } });
        var external = new List<string>();
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(cluster.DashboardUri!.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal))
            {
                external.Add(request.Url);
            }
        };
        await page.GotoAsync(cluster.DashboardUri!.ToString());

        foreach (var worker in cluster.Workers)
        {
            await Assertions.Expect(page.Locator($"#workers tr[data-worker='{worker.Id}'] td").First).ToHaveTextAsync(worker.Id);
        }

        await Assertions.Expect(page.Locator("#calls tbody tr")).ToHaveCountAsync(2);
        var call = page.Locator("#calls tbody tr").First;
        await Assertions.Expect(call.Locator("td.total")).ToHaveTextAsync("200");
        await Assertions.Expect(call.Locator("td.done")).ToHaveTextAsync("199");
        await Assertions.Expect(call.Locator("td.failed")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#errors .error .head")).ToHaveTextAsync("System.InvalidOperationException: seven is not allowed (7)");
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("running");
        external.Should().BeEmpty("the page loads nothing from anywhere but the dashboard itself");

        var screenshot = Path.Combine(LogEventIds.RepositoryRoot(), "artifacts", "test", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        new FileInfo(screenshot).Length.Should().BeGreaterThan(10_000);
        if (Environment.GetEnvironmentVariable("COILED_REMOTE_UPDATE_DOCS") == "1")
        {
            File.Copy(screenshot, Path.Combine(LogEventIds.RepositoryRoot(), "docs", "dashboard.png"), overwrite: true);
        }
    }
}
