using System.Numerics;
using Coiled.Remote.Tests.Support;
using static Coiled.Remote.Tests.Support.ExactValueJobs;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// On real worker processes, values MessagePack alone would fail on or lose either arrive exactly (dictionaries keyed by
/// tuples, BigInteger, Int128) or are refused clearly: in the caller before anything is sent, or as the task's failure.
/// </summary>
public sealed class ExactValueTests(LocalClusterFixture fixture) : IClassFixture<LocalClusterFixture>
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    private Cluster Cluster => fixture.Cluster;

    [Fact]
    public async Task SubmitAsync_DictionaryKeyedByTuples_ArrivesAndReturnsFindingItsKeys()
    {
        var cells = new Dictionary<(int Row, int Column), string> { [(1, 2)] = "b1", [(3, 4)] = "d3" };

        var back = await Cluster.SubmitAsync(ExactValueJobs.Transpose, cells).WaitAsync(Safety);

        back[(2, 1)].Should().Be("b1");
        back[(4, 3)].Should().Be("d3");
    }

    [Fact]
    public async Task SubmitAsync_WideIntegers_ArriveAndReturnAsTheSameNumbers()
    {
        (await Cluster.SubmitAsync(ExactValueJobs.Factorial, 60).WaitAsync(Safety)).Should().Be(Factorial(60));
        (await Cluster.SubmitAsync(ExactValueJobs.Negate, Int128.MaxValue).WaitAsync(Safety)).Should().Be(-Int128.MaxValue);
    }

    [Fact]
    public async Task SubmitAsync_DerivedListOrHiddenState_ThrowsInTheCallerNamingWhatToChange()
    {
        var derived = () => Cluster.SubmitAsync(ExactValueJobs.Count, new Scores { 1 });
        var basket = new Basket();
        basket.Add("pear");
        var hidden = () => Cluster.SubmitAsync(ExactValueJobs.Size, basket);

        (await derived.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "Argument 'items' of ExactValueJobs.Count is of type Scores, declared as List<int>: only the items of List<int> would travel, " +
            "and it would arrive as List<int>. Declare the parameter as Scores instead.");
        (await hidden.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().StartWith(
            "Argument 'basket' of ExactValueJobs.Size is of type Basket, which would not arrive whole: Basket keeps state in non-public field _items");
    }

    [Fact]
    public async Task SubmitAsync_ResultWithHalfAnEmoji_FailsTheTaskNamingTheIndex()
    {
        var act = () => Cluster.SubmitAsync(ExactValueJobs.DropLast, "ok \uD83D\uDE00").WaitAsync(Safety);

        var failure = (await act.Should().ThrowAsync<RemoteException>()).Which;
        failure.RemoteType.Should().Be("Coiled.Remote.Stubs.RemoteResultException");
        failure.RemoteMessage.Should().StartWith("The result cannot be serialized: the string has an unpaired surrogate (\\uD83D) at index 3");
        (await Cluster.SubmitAsync(ExactValueJobs.DropLast, "okay").WaitAsync(Safety)).Should().Be("oka");
    }

    private static BigInteger Factorial(int n) => ExactValueJobs.Factorial(n);
}
