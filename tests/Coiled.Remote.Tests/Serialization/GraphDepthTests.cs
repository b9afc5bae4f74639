using Coiled.Remote.Serialization;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>Reference cycles and deep graphs are refused with a path instead of overflowing the writer's stack.</summary>
public sealed class GraphDepthTests
{
    private const string CycleAdvice =
        "Arguments and results travel as copies, so a cycle would never end: break it before the call, for example leave " +
        "the back-reference out with [IgnoreMember] and set it again on the other side.";

    private const string DepthAdvice =
        "Arguments and results travel at most 500 levels of nested objects and collections deep: pass deep structures flat, for example a linked list as an array.";

    [Fact]
    public void Write_NodeThatIsItsOwnNext_RefusedAsACycleAtNext()
    {
        var node = new Node { Value = 1 };
        node.Next = node;

        var refusal = Wire.Refusal(node);

        refusal.Describe("Argument 'n' of Jobs.Cycle", "parameter").Should()
            .Be($"Argument 'n' of Jobs.Cycle has a reference cycle at Node.Next, which refers back to Node. {CycleAdvice}");
        refusal.Root.Should().BeSameAs(node);
    }

    [Fact]
    public void Write_CycleBelowTheRoot_NamesTheWholePathAndWhereItLoops()
    {
        var first = new Node { Value = 1 };
        var second = new Node { Value = 2, Next = first };
        first.Next = second;
        var holder = new NodeHolder("h", [new Node(), first]);

        var refusal = Wire.Refusal(holder);

        refusal.Describe("The result", "return type").Should()
            .Be($"The result has a reference cycle at NodeHolder.Nodes[1].Next.Next, which refers back to NodeHolder.Nodes[1]. {CycleAdvice}");
    }

    [Fact]
    public void Write_CycleThroughObjectArrayAndDictionary_NamesIndexAndKey()
    {
        var array = new object?[2];
        var map = new Dictionary<string, object?> { ["inner"] = array };
        array[1] = map;

        var refusal = Wire.Refusal<object>(map);

        refusal.Describe("The value", "declared type").Should()
            .Be($"The value has a reference cycle at Dictionary<string, object>[\"inner\"][1], which refers back to Dictionary<string, object>. {CycleAdvice}");
    }

    [Fact]
    public void Write_TenThousandDeepChain_RefusedAtTheLimitWithAShortPath()
    {
        var refusal = Wire.Refusal(Chain(10_000));

        refusal.Describe("Argument 'head' of Jobs.Deep", "parameter").Should().Be(
            "Argument 'head' of Jobs.Deep is nested more than 500 levels deep, at Node.Next.Next.Next.Next.Next.Next.Next….Next.Next (500 levels down). " +
            DepthAdvice);
    }

    [Fact]
    public void RoundTrip_ChainExactlyAtTheLimitEndingInAListOfScalars_ArrivesWhole()
    {
        var head = Chain(RemoteSerializer.MaxDepth);

        var back = Wire.RoundTrip(head);

        var length = 0;
        for (var node = back; node is not null; node = node.Next)
        {
            node.Value.Should().Be(length++);
            node.Tags.Should().Equal("a", "b");
        }

        length.Should().Be(RemoteSerializer.MaxDepth);
        Wire.Refusal(Chain(RemoteSerializer.MaxDepth + 1)).Describe("x", "y").Should().StartWith("x is nested more than 500 levels deep");
    }

    [Fact]
    public void RoundTrip_ChainAtTheLimit_FitsInAThirdOfAThreadPoolThreadsStack()
    {
        // Thread-pool threads have about 1.5 MB of stack; the limit must leave most of it to the caller's own frames.
        var length = 0;
        var thread = new Thread(() => length = Length(Wire.RoundTrip(Chain(RemoteSerializer.MaxDepth))), maxStackSize: 512 * 1024);

        thread.Start();
        thread.Join();

        length.Should().Be(RemoteSerializer.MaxDepth);
    }

    [Fact]
    public void Write_AfterARefusal_TheNextValueOnTheThreadStartsAtDepthZero()
    {
        for (var i = 0; i < 3; i++)
        {
            Wire.Refusal(Chain(600));
        }

        Wire.RoundTrip(Chain(RemoteSerializer.MaxDepth)).Value.Should().Be(0);
    }

    [Fact]
    public void Write_SameObjectTwiceSideBySide_IsNotACycle()
    {
        var shared = new Node { Value = 7 };
        var holder = new NodeHolder("twice", [shared, shared]);

        var back = Wire.RoundTrip(holder);

        back.Nodes.Select(n => n.Value).Should().Equal(7, 7);
    }

    [Fact]
    public void Write_MemberWhoseGetterThrows_SaysWhereWithTheGettersMessage()
    {
        var refusal = Wire.Refusal(new SensorHolder("bad", new Sensor()));

        refusal.Describe("The result", "return type").Should().Be("The result cannot be serialized at SensorHolder.Sensor: not today");
    }

    private static int Length(Node? head)
    {
        var length = 0;
        for (var node = head; node is not null; node = node.Next)
        {
            length++;
        }

        return length;
    }

    private static Node Chain(int length)
    {
        Node? head = null;
        for (var i = length - 1; i >= 0; i--)
        {
            head = new Node { Value = i, Next = head, Tags = ["a", "b"] };
        }

        return head!;
    }

    public class Node
    {
        public int Value { get; set; }

        public Node? Next { get; set; }

        public List<string> Tags { get; set; } = [];
    }

    public sealed class Sensor
    {
        public int Reading
        {
            get => throw new InvalidOperationException("not today");
            set { }
        }
    }

    public sealed record SensorHolder(string Name, Sensor Sensor);

    public sealed record NodeHolder(string Name, List<Node> Nodes);
}
