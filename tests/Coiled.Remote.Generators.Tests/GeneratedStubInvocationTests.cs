using System.Buffers;
using System.Reflection;
using System.Runtime.Loader;
using Coiled.Remote.Stubs;
using MessagePack;
using MessagePack.Resolvers;

namespace Coiled.Remote.Generators.Tests;

/// <summary>Compiles user code with the generator, loads it, and runs the stubs the way a worker does.</summary>
public sealed class GeneratedStubInvocationTests : IDisposable
{
    private const string Source = """
        namespace MyApp;

        public sealed record Point(double X, double Y);

        public static class Jobs
        {
            [Remote]
            public static double Square(double x) => x * x;

            [Remote(Retries = 2, TimeoutSeconds = 30)]
            public static async Task<int> CountWordsAsync(string text, CancellationToken ct)
            {
                await Task.Yield();
                return text.Split(' ').Length;
            }

            [Remote]
            public static void Log(string message) => LastMessage = message;

            [Remote]
            public static Point Move(Point p, double dx) => p with { X = p.X + dx };

            [Remote]
            public static bool CanCancel(CancellationToken ct) => ct.CanBeCanceled;

            [Remote]
            public static int Sum(int[] values, List<int> more, int? extra) => values.Sum() + more.Sum() + (extra ?? 0);

            [Remote]
            public static string Tag(int x) => $"plain {x}";

            [Remote]
            public static string Tag(int x, CancellationToken ct) => $"cancellable {x} {ct.CanBeCanceled}";

            public static string? LastMessage { get; private set; }
        }
        """;

    private static readonly MessagePackSerializerOptions Options =
        MessagePackSerializerOptions.Standard.WithResolver(ContractlessStandardResolver.Instance);

    // Load returns null, so Coiled.Remote and MessagePack resolve to the copies already loaded, as on a worker.
    private readonly AssemblyLoadContext _context = new("generated-stubs", isCollectible: true);
    private readonly Assembly _assembly;
    private readonly IReadOnlyDictionary<string, RemoteStub> _stubs;

    public GeneratedStubInvocationTests()
    {
        var (output, _) = TestCompilation.GenerateClean(Source);
        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        emitted.Success.Should().BeTrue(string.Join("\n", emitted.Diagnostics));
        image.Position = 0;
        _assembly = _context.LoadFromStream(image);

        var attribute = _assembly.GetCustomAttribute<RemoteStubRegistryAttribute>();
        attribute.Should().NotBeNull();
        var registry = (RemoteStubRegistry)Activator.CreateInstance(attribute!.RegistryType)!;
        _stubs = registry.CreateStubs().ToDictionary(stub => stub.Id);
    }

    public void Dispose() => _context.Unload();

    [Fact]
    public void CreateStubs_Registry_DescribesEveryMethod()
    {
        _stubs.Keys.Should().BeEquivalentTo(
            "MyApp.Jobs.Square(System.Double)",
            "MyApp.Jobs.CountWordsAsync(System.String,System.Threading.CancellationToken)",
            "MyApp.Jobs.Log(System.String)",
            "MyApp.Jobs.Move(MyApp.Point,System.Double)",
            "MyApp.Jobs.CanCancel(System.Threading.CancellationToken)",
            "MyApp.Jobs.Sum(System.Int32[],System.Collections.Generic.List<System.Int32>,System.Nullable<System.Int32>)",
            "MyApp.Jobs.Tag(System.Int32)",
            "MyApp.Jobs.Tag(System.Int32,System.Threading.CancellationToken)");

        var count = _stubs["MyApp.Jobs.CountWordsAsync(System.String,System.Threading.CancellationToken)"];
        count.Method.Should().BeSameAs(_assembly.GetType("MyApp.Jobs")!.GetMethod("CountWordsAsync"));
        count.Retries.Should().Be(2);
        count.TimeoutSeconds.Should().Be(30);
        count.AcceptsCancellation.Should().BeTrue();
        count.ArgumentCount.Should().Be(1);
        _stubs["MyApp.Jobs.Square(System.Double)"].Retries.Should().Be(0);
    }

    [Fact]
    public async Task InvokeAsync_SyncMethod_WritesResult()
    {
        var result = await InvokeAsync("MyApp.Jobs.Square(System.Double)", 3.0);

        MessagePackSerializer.Deserialize<double>(result, Options).Should().Be(9.0);
    }

    [Fact]
    public async Task InvokeAsync_AsyncMethodWithToken_WritesAwaitedResult()
    {
        var result = await InvokeAsync("MyApp.Jobs.CountWordsAsync(System.String,System.Threading.CancellationToken)", "one two three");

        MessagePackSerializer.Deserialize<int>(result, Options).Should().Be(3);
    }

    [Fact]
    public async Task InvokeAsync_TokenParameter_ReceivesCallersToken()
    {
        using var cancellation = new CancellationTokenSource();
        var result = await InvokeWithTokenAsync("MyApp.Jobs.CanCancel(System.Threading.CancellationToken)", cancellation.Token);

        MessagePackSerializer.Deserialize<bool>(result, Options).Should().BeTrue();
    }

    [Fact]
    public async Task InvokeAsync_VoidMethod_CallsMethodAndWritesNil()
    {
        var result = await InvokeAsync("MyApp.Jobs.Log(System.String)", "hello");

        result.Should().Equal(MessagePackCode.Nil);
        _assembly.GetType("MyApp.Jobs")!.GetProperty("LastMessage")!.GetValue(null).Should().Be("hello");
    }

    [Fact]
    public async Task InvokeAsync_RecordArgument_RoundTrips()
    {
        var point = new Dictionary<string, double> { ["X"] = 1.0, ["Y"] = 2.0 };

        var result = await InvokeAsync("MyApp.Jobs.Move(MyApp.Point,System.Double)", point, 3.0);

        MessagePackSerializer.Deserialize<Dictionary<string, double>>(result, Options)
            .Should().Equal(new Dictionary<string, double> { ["X"] = 4.0, ["Y"] = 2.0 });
    }

    [Fact]
    public async Task InvokeAsync_CollectionArguments_AreRead()
    {
        var result = await InvokeAsync("MyApp.Jobs.Sum(System.Int32[],System.Collections.Generic.List<System.Int32>,System.Nullable<System.Int32>)", new[] { 1, 2 }, new[] { 3 }, 4);

        MessagePackSerializer.Deserialize<int>(result, Options).Should().Be(10);
    }

    [Fact]
    public async Task InvokeAsync_OverloadsDifferingOnlyByTrailingToken_EachStubCallsItsOwnOverload()
    {
        var jobs = _assembly.GetType("MyApp.Jobs")!;
        var plain = _stubs["MyApp.Jobs.Tag(System.Int32)"];
        var cancellable = _stubs["MyApp.Jobs.Tag(System.Int32,System.Threading.CancellationToken)"];
        using var cancellation = new CancellationTokenSource();

        var plainResult = await InvokeAsync(plain.Id, 1);
        var cancellableResult = await InvokeWithTokenAsync(cancellable.Id, cancellation.Token, 2);

        plain.Method.Should().BeSameAs(jobs.GetMethod("Tag", [typeof(int)]));
        cancellable.Method.Should().BeSameAs(jobs.GetMethod("Tag", [typeof(int), typeof(CancellationToken)]));
        (plain.AcceptsCancellation, plain.ArgumentCount).Should().Be((false, 1));
        (cancellable.AcceptsCancellation, cancellable.ArgumentCount).Should().Be((true, 1));
        MessagePackSerializer.Deserialize<string>(plainResult, Options).Should().Be("plain 1");
        MessagePackSerializer.Deserialize<string>(cancellableResult, Options).Should().Be("cancellable 2 True");
    }

    [Fact]
    public async Task InvokeAsync_WrongArgumentCount_ThrowsNamingTheMethod()
    {
        var invoke = () => InvokeAsync("MyApp.Jobs.Square(System.Double)", 1.0, 2.0);

        (await invoke.Should().ThrowAsync<Exception>())
            .WithMessage("*MyApp.Jobs.Square(System.Double)*1 argument*2*");
    }

    private Task<byte[]> InvokeAsync(string id, params object?[] arguments)
        => InvokeWithTokenAsync(id, CancellationToken.None, arguments);

    private async Task<byte[]> InvokeWithTokenAsync(string id, CancellationToken cancellationToken, params object?[] arguments)
    {
        var buffer = new ArrayBufferWriter<byte>();
        await _stubs[id].InvokeAsync(MessagePackSerializer.Serialize(arguments, Options), buffer, cancellationToken);
        return buffer.WrittenSpan.ToArray();
    }
}
