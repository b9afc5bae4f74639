using Coiled.Remote.Tests.Support;
using static Coiled.Remote.Tests.Support.SerializationJobs;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Arguments and results on real worker processes either arrive exactly as they were or fail clearly, in the caller
/// before anything is sent or as the task's failure: cycles, deep graphs, private setters, DateTime kinds, object.
/// </summary>
public sealed class SerializationTests(LocalClusterFixture fixture) : IClassFixture<LocalClusterFixture>
{
    private const string CycleAdvice =
        "Arguments and results travel as copies, so a cycle would never end: break it before the call, for example leave " +
        "the back-reference out with [IgnoreMember] and set it again on the other side.";

    private const string DepthAdvice =
        "Arguments and results travel at most 500 levels of nested objects and collections deep: pass deep structures flat, for example a linked list as an array.";

    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    private Cluster Cluster => fixture.Cluster;

    [Fact]
    public async Task SubmitAsync_ArgumentWithACycle_ThrowsInTheCallerNamingArgumentMethodAndPath()
    {
        var node = new Node { Value = 1 };
        node.Next = node;

        var act = () => Cluster.SubmitAsync(SerializationJobs.Length, node);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .Be($"Argument 'head' of SerializationJobs.Length has a reference cycle at Node.Next, which refers back to Node. {CycleAdvice}");
        (await Cluster.SubmitAsync(SerializationJobs.Length, Chain(3)).WaitAsync(Safety)).Should().Be(3);
    }

    [Fact]
    public async Task MapAsync_SecondArgumentOfOneItemHasACycle_NamesTheParameterAndTheItem()
    {
        var loop = new Node { Value = 1 };
        loop.Next = new Node { Value = 2, Next = loop };

        var act = () => Cluster.MapAsync(SerializationJobs.LengthOfLabelled, [("a", Chain(1)), ("b", Chain(2)), ("c", loop)]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .Be($"Argument 'head' of SerializationJobs.LengthOfLabelled, item 2, has a reference cycle at Node.Next.Next, which refers back to Node. {CycleAdvice}");
    }

    [Fact]
    public async Task SubmitAsync_TenThousandDeepArgument_ThrowsInTheCallerWithTheLimit()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Length, Chain(10_000));

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "Argument 'head' of SerializationJobs.Length is nested more than 500 levels deep, at Node.Next.Next.Next.Next.Next.Next.Next….Next.Next (500 levels down). " +
            DepthAdvice);
    }

    [Fact]
    public async Task SubmitAsync_ArgumentAndResultAtTheDepthLimit_ArriveWhole()
    {
        (await Cluster.SubmitAsync(SerializationJobs.Length, Chain(500)).WaitAsync(Safety)).Should().Be(500);

        var back = await Cluster.SubmitAsync(SerializationJobs.Chain, 500).WaitAsync(Safety);

        Length(back).Should().Be(500);
    }

    [Fact]
    public async Task SubmitAsync_TenThousandDeepResult_FailsTheTaskClearlyAndTheCallerCarriesOn()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Chain, 10_000).WaitAsync(Safety);

        var failure = (await act.Should().ThrowAsync<RemoteException>()).Which;
        failure.RemoteType.Should().Be("Coiled.Remote.Stubs.RemoteResultException");
        failure.RemoteMessage.Should().Be(
            "The result is nested more than 500 levels deep, at Node.Next.Next.Next.Next.Next.Next.Next….Next.Next (500 levels down). " + DepthAdvice);
        (await Cluster.SubmitAsync(SerializationJobs.Chain, 3).WaitAsync(Safety)).Value.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_ResultWithACycle_FailsTheTaskClearly()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Loop, 5).WaitAsync(Safety);

        (await act.Should().ThrowAsync<RemoteException>()).Which.RemoteMessage.Should()
            .Be($"The result has a reference cycle at Node.Next, which refers back to Node. {CycleAdvice}");
    }

    [Fact]
    public async Task SubmitAsync_PrivateSetter_TravelsBothWays()
    {
        var counter = new Counter();
        counter.Add(5);

        var back = await Cluster.SubmitAsync(SerializationJobs.AddTo, counter, 2).WaitAsync(Safety);

        back.Count.Should().Be(7);
    }

    [Fact]
    public async Task SubmitAsync_GetOnlyAutoProperties_TravelBothWays()
    {
        var order = new Order("A-1");
        order.Lines.Add("apples");

        var back = await Cluster.SubmitAsync(SerializationJobs.AddLine, order, "pears").WaitAsync(Safety);

        back.Id.Should().Be("A-1");
        back.Lines.Should().Equal("apples", "pears");
    }

    [Fact]
    public async Task SubmitAsync_ResultTheCallerCouldNotCreate_FailsTheTaskNamingWhatToAdd()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Total, 2, 3).WaitAsync(Safety);

        (await act.Should().ThrowAsync<RemoteException>()).Which.RemoteMessage.Should().Be(
            "The result is of type Sum, which cannot be created on the other side: Sum has no parameterless constructor and no constructor " +
            "whose parameters are all named like its public properties. Add a constructor whose parameters match the properties by name, " +
            "Sum(int total), or a parameterless one (it may be private).");
    }

    [Fact]
    public async Task SubmitAsync_DateTimeOfEachKind_ArrivesAndReturnsWithItsKindAndValue()
    {
        foreach (var kind in new[] { DateTimeKind.Utc, DateTimeKind.Local, DateTimeKind.Unspecified })
        {
            var value = new DateTime(2024, 1, 2, 7, 8, 9, kind);

            var seen = await Cluster.SubmitAsync(SerializationJobs.See, value).WaitAsync(Safety);
            var back = await Cluster.SubmitAsync(SerializationJobs.Echo, value).WaitAsync(Safety);

            seen.Should().Be($"{value:O}|{kind}|{value.ToUniversalTime():O}", "the workers run in the caller's time zone");
            back.Kind.Should().Be(kind);
            back.Ticks.Should().Be(value.Ticks);
        }
    }

    [Fact]
    public async Task SubmitAsync_DateTimesInARecord_KeepTheirKinds()
    {
        var local = new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Local);
        var unspecified = new DateTime(2024, 3, 4, 5, 6, 7, DateTimeKind.Unspecified);

        var back = await Cluster.SubmitAsync(SerializationJobs.Postpone, new Meeting("m", local, unspecified, [unspecified])).WaitAsync(Safety);

        (back.At.Ticks, back.At.Kind).Should().Be((local.AddHours(1).Ticks, DateTimeKind.Local));
        (back.Until?.Ticks, back.Until?.Kind).Should().Be((unspecified.Ticks, DateTimeKind.Unspecified));
        back.Others.Select(d => (d.Ticks, d.Kind)).Should().Equal((unspecified.Ticks, DateTimeKind.Unspecified), (local.Ticks, DateTimeKind.Local));
    }

    [Fact]
    public async Task SubmitAsync_RecordAsObjectArgument_ThrowsInTheCallerNamingTheTypeToDeclare()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.TypeOf, new Point(1, 2));

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "Argument 'value' of SerializationJobs.TypeOf is of type Point, declared as object: only primitives, strings, byte[], UTC DateTimes and " +
            "collections of primitives, strings and byte[] keep their type through object, so it would not arrive as itself. Declare the parameter as Point instead.");
    }

    [Fact]
    public async Task SubmitAsync_StringsAndListsAsObjectArgument_WorkAsBefore()
    {
        (await Cluster.SubmitAsync(SerializationJobs.TypeOf, "text").WaitAsync(Safety)).Should().Be("System.String");
        (await Cluster.SubmitAsync(SerializationJobs.TypeOf, new List<int> { 1, 2 }).WaitAsync(Safety)).Should().Be("System.Object[]");
        (await Cluster.SubmitAsync(SerializationJobs.TypeOf, (object)2.5).WaitAsync(Safety)).Should().Be("System.Double");
    }

    [Fact]
    public async Task SubmitAsync_RecordAsObjectResult_FailsTheTaskNamingTheTypeToDeclare()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Wrap, 1).WaitAsync(Safety);

        (await act.Should().ThrowAsync<RemoteException>()).Which.RemoteMessage.Should().Be(
            "The result is of type Point, declared as object: only primitives, strings, byte[], UTC DateTimes and collections of primitives, " +
            "strings and byte[] keep their type through object, so it would not arrive as itself. Declare the return type as Point instead.");
    }

    [Fact]
    public async Task SubmitAsync_DerivedArgumentForABaseClassParameter_ThrowsInTheCallerRatherThanTruncating()
    {
        // The call's argument type is inferred as Truck; the method reads a Vehicle, which would arrive without Load.
        var act = () => Cluster.SubmitAsync(SerializationJobs.KindOf, new Truck { Wheels = 6, Load = 10 });

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "Argument 'vehicle' of SerializationJobs.KindOf is of type Truck, declared as Vehicle: only the members of Vehicle would travel, " +
            "and it would arrive as Vehicle. Declare the parameter as Truck instead.");
        (await Cluster.SubmitAsync(SerializationJobs.KindOf, new Vehicle { Wheels = 4 }).WaitAsync(Safety)).Should().Be("Vehicle");
    }

    [Fact]
    public async Task SubmitAsync_RecordInAnInterfaceTypedList_ThrowsInTheCallerNamingThePath()
    {
        var act = () => Cluster.SubmitAsync(SerializationJobs.Count, new Drawing([new Circle(1)]));

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "Argument 'drawing' of SerializationJobs.Count holds a value of type Circle at Drawing.Shapes[0], declared as IShape: the other side " +
            "could not tell which type to create for the interface IShape. Declare the member as Circle instead.");
        (await Cluster.SubmitAsync(SerializationJobs.Count, new Drawing([])).WaitAsync(Safety)).Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_MethodViewedThroughAWiderResultType_ReturnsTheMethodsOwnType()
    {
        var back = await Cluster.SubmitAsync((Func<int, object>)SerializationJobs.Chain, 3).WaitAsync(Safety);

        back.Should().BeOfType<Node>().Which.Next!.Next!.Value.Should().Be(2);
    }

    private static Node Chain(int length) => SerializationJobs.Chain(length);

    private static int Length(Node head) => SerializationJobs.Length(head);
}
