using Coiled.Remote.Ec2;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>The EC2 backend logs through [LoggerMessage] methods with unique event ids in 2000-2999.</summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void LoggerMessageMethods_OfTheEc2Assembly_HaveUniqueEventIdsInItsRange()
    {
        var methods = LogEventIds.Methods(typeof(Ec2Backend).Assembly);

        methods.Should().Contain(m => m.Area == "Coiled.Remote.Ec2.Ec2Log");
        LogEventIds.Duplicates(methods).Should().BeEmpty();
        LogEventIds.OutOfRange(methods).Should().BeEmpty();
    }
}
