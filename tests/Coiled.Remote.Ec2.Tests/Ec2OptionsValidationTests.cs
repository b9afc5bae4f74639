namespace Coiled.Remote.Ec2.Tests;

/// <summary>Settings that cannot work are refused when the backend is made, before any AWS call, naming the setting.</summary>
public sealed class Ec2OptionsValidationTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(3601)]
    public void Constructor_CapacityTimeoutOutOfRange_IsRefusedNamingIt(int seconds)
    {
        var make = () => new Ec2Backend(new Ec2Options { CapacityTimeout = TimeSpan.FromSeconds(seconds) });

        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Ec2Options.CapacityTimeout must be from 0 (one round of asking) to 1 hour.*");
    }

    [Fact]
    public void Constructor_InstanceTypeListedTwice_IsRefused()
    {
        var make = () => new Ec2Backend(new Ec2Options { InstanceTypes = ["c7i.large", "C7I.large"] });

        make.Should().Throw<ArgumentException>().WithMessage("Ec2Options.InstanceTypes and Ec2Options.SubnetIds must not name an entry twice.*");
    }

    [Fact]
    public void Constructor_BlankSubnet_IsRefused()
    {
        var make = () => new Ec2Backend(new Ec2Options { SubnetIds = ["subnet-1", " "] });

        make.Should().Throw<ArgumentException>().WithMessage("Ec2Options.InstanceTypes and Ec2Options.SubnetIds must not hold empty entries.*");
    }

    [Fact]
    public void Constructor_SubnetIdAndSubnetIds_IsRefusedSayingWhichToKeep()
    {
        var make = () => new Ec2Backend(new Ec2Options { SubnetId = "subnet-1", SubnetIds = ["subnet-2"] });

        make.Should().Throw<ArgumentException>().WithMessage("Set Ec2Options.SubnetId or Ec2Options.SubnetIds, not both*");
    }

    [Fact]
    public void Constructor_InstanceTypesOfTwoArchitectures_FailsTheStartBeforeAnyAwsCall()
    {
        var mixed = new Ec2Options { InstanceTypes = ["c7i.large", "c7g.large"] };

        var architecture = () => InstanceLauncher.ArchitectureOf(mixed);

        architecture.Should().Throw<ClusterStartException>().WithMessage("Ec2Options.InstanceTypes mixes architectures (x86_64: c7i.large; arm64: c7g.large)*");
    }
}
