namespace Coiled.Remote.Ec2.Tests;

public sealed class PricingAndNamingTests
{
    [Theory]
    [InlineData("c7i.large", "x86_64")]
    [InlineData("m7i-flex.large", "x86_64")]
    [InlineData("g5.xlarge", "x86_64")]
    [InlineData("g4dn.xlarge", "x86_64")]
    [InlineData("t3.medium", "x86_64")]
    [InlineData("c7g.large", "arm64")]
    [InlineData("c7gn.xlarge", "arm64")]
    [InlineData("m6gd.large", "arm64")]
    [InlineData("t4g.small", "arm64")]
    [InlineData("g5g.xlarge", "arm64")]
    [InlineData("hpc7g.16xlarge", "arm64")]
    [InlineData("a1.medium", "arm64")]
    public void InstanceArchitecture_Of_ReadsTheFamily(string instanceType, string architecture)
        => InstanceArchitecture.Of(instanceType).Should().Be(architecture);

    [Theory]
    [InlineData("c7i.large", "0.08925")]
    [InlineData("c7i.2xlarge", "0.357")]
    [InlineData("c7g.large", "0.0725")]
    [InlineData("t3.medium", "0.0416")]
    [InlineData("m7g.large", "0.0816")]
    public void InstancePrices_OnDemandHourly_KnownTypes(string instanceType, string price)
        => InstancePrices.OnDemandHourly(instanceType).Should().Be(decimal.Parse(price, System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void InstancePrices_OnDemandHourly_UnknownType_IsNull()
        => InstancePrices.OnDemandHourly("x9z.large").Should().BeNull();

    [Fact]
    public void InstancePrices_For_BillsAtLeastOneMinute()
        => InstancePrices.For(3.6m, TimeSpan.FromSeconds(5)).Should().Be(0.06m);

    [Fact]
    public void OwnerIdentity_ToStringAndParse_RoundTrip()
    {
        var owner = new OwnerIdentity("ana", "build-box.local", 4321);

        OwnerIdentity.Parse(owner.ToString()).Should().Be(owner);
        OwnerIdentity.Parse("not an owner").Should().BeNull();
    }

    [Fact]
    public void Ec2Backend_IngressOpenToEveryoneByDefault_IsNever()
    {
        var options = new Ec2Options();

        options.AllowIngressFrom.Should().BeNull("the default is the caller's own address as a /32");
        var invalid = () => new Ec2Backend(options with { AllowIngressFrom = "everyone" });
        invalid.Should().Throw<ArgumentException>().WithMessage("*AllowIngressFrom*");
    }
}
