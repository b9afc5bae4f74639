using System.Numerics;

namespace Coiled.Remote.Tests.Support;

/// <summary>[Remote] methods whose arguments and results are values MessagePack alone would lose or fail on.</summary>
public static class ExactValueJobs
{
    /// <summary>Swaps each cell's row and column: a dictionary keyed by tuples, both ways.</summary>
    [Remote]
    public static Dictionary<(int Row, int Column), string> Transpose(Dictionary<(int Row, int Column), string> cells)
        => cells.ToDictionary(cell => (cell.Key.Column, cell.Key.Row), cell => cell.Value);

    [Remote]
    public static BigInteger Factorial(int n)
    {
        var product = BigInteger.One;
        for (var i = 2; i <= n; i++)
        {
            product *= i;
        }

        return product;
    }

    [Remote]
    public static Int128 Negate(Int128 value) => -value;

    [Remote]
    public static int Count(List<int> items) => items.Count;

    /// <summary>The text without its last char: half of an emoji when the text ends in one.</summary>
    [Remote]
    public static string DropLast(string text) => text[..^1];

    [Remote]
    public static int Size(Basket basket) => basket.Items.Count;

    public sealed class Scores : List<int>;

    public sealed class Basket
    {
        private readonly List<string> _items = [];

        public IReadOnlyList<string> Items => _items;

        public void Add(string item) => _items.Add(item);
    }
}
