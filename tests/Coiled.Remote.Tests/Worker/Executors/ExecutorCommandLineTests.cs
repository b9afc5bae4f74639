using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Tests.Worker.Executors;

/// <summary>The executor's command line, which only its daemon writes, read strictly.</summary>
public sealed class ExecutorCommandLineTests
{
    private static readonly string[] Required = ["--socket", "/tmp/x/link", "--slots", "3", "--timeout-grace-ms", "500", "--max-result-bytes", "1024"];

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "--tls", "false" }, false)]
    [InlineData(new[] { "--tls", "true" }, true)]
    public void Parse_Tls_SaysWhetherTheDaemonsClientsSpeakTls(string[] tls, bool expected)
    {
        var options = ExecutorCommandLine.Parse([.. Required, .. tls]);

        options.Should().Be(new ExecutorCommandLine(null, null, string.Empty, "/tmp/x/link", 3, new TaskLimits(TimeSpan.FromMilliseconds(500), 1024, CollectAfterLargeTasks: true), expected));
    }

    [Fact]
    public void Parse_Blobs_NamesTheFolderStagedSharedValuesAreReadFrom()
    {
        ExecutorCommandLine.Parse([.. Required, "--staged-values", "/var/cache/w/values"]).StagedValueDirectory.Should().Be("/var/cache/w/values");
        ExecutorCommandLine.Parse(Required).StagedValueDirectory.Should().BeNull();
    }

    [Fact]
    public void StartInfo_WorkerWithABlobStore_PassesItsFolderToTheExecutor()
    {
        var options = new ExecutorOptions { FileName = "worker", StagedValueDirectory = "/var/cache/w/values" };

        var start = ExecutorProcess.StartInfo(options, environment: null, "/var/cache/w/executors/1", slots: 2, new TaskLimits(TimeSpan.FromSeconds(1), 1024, CollectAfterLargeTasks: true));

        ExecutorCommandLine.Parse([.. start.ArgumentList.Skip(1)]).StagedValueDirectory.Should().Be("/var/cache/w/values");
    }

    [Theory]
    [InlineData(new[] { "--tls", "yes" }, "--tls takes true or false, not 'yes'.")]
    [InlineData(new[] { "--tls" }, "Unknown executor option or missing value: '--tls'.")]
    [InlineData(new[] { "--environment", "abc" }, "--environment and --environment-dir go together (or neither, for a spare executor).")]
    [InlineData(new[] { "--slots", "0" }, "--slots takes a whole number of at least 1, not '0'.")]
    public void Parse_MalformedOption_IsRefusedSayingWhatIsWrong(string[] extra, string message)
    {
        var parse = () => ExecutorCommandLine.Parse([.. Required, .. extra]);

        parse.Should().Throw<ArgumentException>().WithMessage(message);
    }
}
