using System.Reflection;
using System.Runtime.Loader;
using Coiled.Remote.Stubs;

namespace Coiled.Remote.Tests.Stubs;

/// <summary>Finding a [Remote] method's generated stub from the delegate a caller passes.</summary>
public sealed class StubCatalogTests
{
    [Fact]
    public async Task Resolve_ManyFirstCallsAtOnce_EveryOneFindsTheStub()
    {
        // A fresh copy of this assembly, whose stubs nothing has registered yet, resolved from many threads at once.
        var context = new AssemblyLoadContext("stub-catalog-test", isCollectible: true);
        context.Resolving += (_, name) => name.Name == typeof(Cluster).Assembly.GetName().Name ? typeof(Cluster).Assembly : null;
        try
        {
            var copy = context.LoadFromAssemblyPath(typeof(StubCatalogTests).Assembly.Location);
            var identity = copy.GetType(typeof(Support.TestJobs).FullName!)!.GetMethod(nameof(Support.TestJobs.Identity))!;
            var method = identity.CreateDelegate<Func<int, int>>();
            using var start = new Barrier(8);

            var stubs = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(30));
                return StubCatalog.Resolve(method);
            })));

            stubs.Should().OnlyContain(stub => stub.Id == "Coiled.Remote.Tests.Support.TestJobs.Identity(System.Int32)");
            stubs.Distinct().Should().ContainSingle("every caller gets the one registered stub");
        }
        finally
        {
            context.Unload();
        }
    }
}
