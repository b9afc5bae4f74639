using System.Reflection;
using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Packaging;

/// <summary>
/// Client and worker are separate assemblies: an application that starts its workers as processes or on EC2 loads
/// no web server, and the gRPC contract both sides speak is generated once, in the protocol assembly.
/// </summary>
public sealed class AssemblyBoundaryTests
{
    private static readonly string[] ServerAssemblyPrefixes = ["Microsoft.AspNetCore", "Grpc.AspNetCore"];

    [Theory]
    [InlineData("Coiled.Remote")]
    [InlineData("Coiled.Remote.Protocol")]
    public void ClientSideAssembly_ReferencesNeitherAspNetCoreNorTheGrpcServer(string name)
    {
        var references = Assembly.Load(new AssemblyName(name)).GetReferencedAssemblies().Select(a => a.Name!).ToList();

        references.Where(r => ServerAssemblyPrefixes.Any(p => r.StartsWith(p, StringComparison.Ordinal))).Should().BeEmpty();
        references.Should().NotContain("Coiled.Remote.Worker", "the worker references the client, never the other way");
    }

    [Fact]
    public void ClientAssembly_HoldsNoGeneratedGrpcCode_WhichLivesOnceInTheProtocolAssembly()
    {
        var client = typeof(Cluster).Assembly;
        var protocol = typeof(Coiled.Remote.Transport.Protocol.Worker).Assembly;

        client.GetTypes().Where(t => t.Namespace == "Coiled.Remote.Transport.Protocol").Should().BeEmpty();
        protocol.GetName().Name.Should().Be("Coiled.Remote.Protocol");
        typeof(Coiled.Remote.Transport.Protocol.Worker.WorkerClient).Assembly.Should().BeSameAs(protocol);
        typeof(Coiled.Remote.Transport.Protocol.Worker.WorkerBase).Assembly.Should().BeSameAs(protocol);
    }

    [Fact]
    public void WorkerSide_IsItsOwnAssemblyWithTheInProcessBackendAndTheDaemonsOneEntryPoint()
    {
        var worker = typeof(WorkerDaemon).Assembly;

        worker.GetName().Name.Should().Be("Coiled.Remote.Worker");
        typeof(InProcessBackend).Assembly.Should().BeSameAs(worker);
        typeof(WorkerHost).Assembly.Should().BeSameAs(worker);
        worker.GetReferencedAssemblies().Select(a => a.Name).Should().Contain(["Coiled.Remote", "Coiled.Remote.Protocol"]);
    }

    [Fact]
    public void Dashboard_IsItsOwnAssemblyOnKestrel_WhichTheClientFindsByNameWithoutReferencingIt()
    {
        var factory = Coiled.Remote.Dashboard.DashboardLoader.FindFactory();

        factory.Should().NotBeNull("the dashboard assembly is part of every application that references Coiled.Remote");
        var dashboard = factory!.GetType().Assembly;
        dashboard.GetName().Name.Should().Be("Coiled.Remote.Dashboard");
        dashboard.GetReferencedAssemblies().Select(a => a.Name!).Should().Contain(n => n.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal));
        typeof(Cluster).Assembly.GetReferencedAssemblies().Select(a => a.Name).Should().NotContain("Coiled.Remote.Dashboard");
    }
}
