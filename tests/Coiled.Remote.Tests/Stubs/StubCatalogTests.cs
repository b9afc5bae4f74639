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

    [Fact]
    public void Resolve_DelegateThatWrapsARemoteMethodsDelegate_FindsThatMethodsStub()
    {
        var direct = (Func<int, int>)Support.TestJobs.Identity;
        var wrapped = new Func<int, int>(direct);
        Func<int, int> invoke = ((Func<int, int>)Support.TestJobs.Identity).Invoke;

        wrapped.Target.Should().BeSameAs(direct, "C# binds a delegate made from a delegate to that delegate's Invoke");
        StubCatalog.Resolve(wrapped).Should().BeSameAs(StubCatalog.Resolve(direct));
        StubCatalog.Resolve(invoke).Id.Should().Be("Coiled.Remote.Tests.Support.TestJobs.Identity(System.Int32)");
        StubCatalog.Resolve(new Func<int, int>(wrapped)).Should().BeSameAs(StubCatalog.Resolve(direct));
    }

    [Fact]
    public void Resolve_DelegateThatWrapsALambda_IsStillRefused()
    {
        Func<int, int> lambda = x => x + 1;

        var act = () => StubCatalog.Resolve(new Func<int, int>(lambda));

        act.Should().Throw<ArgumentException>().WithMessage("A lambda, local function or instance method (*) cannot run remotely: only static methods marked [Remote] can.*");
    }
}
