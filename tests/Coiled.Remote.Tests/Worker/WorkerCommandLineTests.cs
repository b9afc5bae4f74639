using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The daemon's executor options on its command line: defaults, values, and values refused with what to write.</summary>
public sealed class WorkerCommandLineTests
{
    private static readonly string[] Required = ["--listen", "127.0.0.1:0", "--token-stdin"];

    [Fact]
    public void Parse_WithoutExecutorOptions_KeepsASpareWithATenMinuteSpareTimeoutAndEndsExecutorsAfterAMinute()
    {
        var options = WorkerCommandLine.Parse(Required);

        (options.SpareExecutor, options.SpareTimeout, options.ExecutorIdleTimeout).Should().Be((true, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void Parse_SpareAndExecutorTimeouts_TakeFractionalSeconds()
    {
        var options = WorkerCommandLine.Parse([.. Required, "--spare-timeout", "90.5", "--executor-idle-timeout", "0.25", "--no-spare-executor"]);

        (options.SpareExecutor, options.SpareTimeout, options.ExecutorIdleTimeout).Should().Be((false, TimeSpan.FromSeconds(90.5), TimeSpan.FromSeconds(0.25)));
    }

    [Theory]
    [InlineData("ten", "--spare-timeout takes a number of seconds, e.g. 60 or 0.5, not 'ten'.")]
    [InlineData("-1", "--spare-timeout takes a number of seconds, e.g. 60 or 0.5, not '-1'.")]
    public void Parse_SpareTimeoutThatIsNotANumberOfSeconds_IsRefusedSayingWhatToWrite(string value, string message)
    {
        var parse = () => WorkerCommandLine.Parse([.. Required, "--spare-timeout", value]);

        parse.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Parse_SpareTimeoutWithoutAValue_IsRefused()
    {
        var parse = () => WorkerCommandLine.Parse([.. Required, "--spare-timeout"]);

        parse.Should().Throw<ArgumentException>().WithMessage("--spare-timeout needs a value.");
    }

    [Fact]
    public void Parse_FirstClientTimeout_IsKeptApartFromTheNoClientTimeoutAndUnsetByDefault()
    {
        WorkerCommandLine.Parse(Required).FirstClientTimeout.Should().BeNull("without it the no-client timeout applies from the start");

        var options = WorkerCommandLine.Parse([.. Required, "--first-client-timeout", "720", "--no-client-timeout", "120"]);

        (options.FirstClientTimeout, options.NoClientTimeout).Should().Be((TimeSpan.FromSeconds(720), TimeSpan.FromSeconds(120)));
        WorkerCommandLine.Parse([.. Required, "--first-client-timeout", "0"]).FirstClientTimeout.Should().Be(Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public void Parse_InstanceMetadata_IsOffByDefaultAndTakesAnHttpAddress()
    {
        WorkerCommandLine.Parse(Required).InstanceMetadata.Should().BeNull("only cloud machines poll their instance metadata");

        var options = WorkerCommandLine.Parse([.. Required, "--instance-metadata", "http://169.254.169.254"]);

        options.InstanceMetadata.Should().Be(new Uri("http://169.254.169.254"));
    }

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("ftp://169.254.169.254")]
    public void Parse_InstanceMetadataThatIsNotAnHttpAddress_IsRefusedSayingWhatToWrite(string value)
    {
        var parse = () => WorkerCommandLine.Parse([.. Required, "--instance-metadata", value]);

        parse.Should().Throw<ArgumentException>().WithMessage($"--instance-metadata takes an http address, e.g. http://169.254.169.254 (EC2's instance metadata), not '{value}'.");
    }
}
