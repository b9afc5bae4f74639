namespace Coiled.Remote.Tests.Support;

/// <summary>[Remote] methods whose arguments and results test what survives the trip to a worker and back.</summary>
public static class SerializationJobs
{
    [Remote]
    public static int Length(Node head)
    {
        var length = 0;
        for (var node = head; node is not null; node = node.Next)
        {
            length++;
        }

        return length;
    }

    [Remote]
    public static int LengthOfLabelled(string label, Node head) => label.Length + Length(head);

    /// <summary>A linked list of <paramref name="length"/> nodes, as a result.</summary>
    [Remote]
    public static Node Chain(int length)
    {
        Node? head = null;
        for (var i = length - 1; i >= 0; i--)
        {
            head = new Node { Value = i, Next = head };
        }

        return head!;
    }

    /// <summary>A node whose Next is itself, as a result.</summary>
    [Remote]
    public static Node Loop(int value)
    {
        var node = new Node { Value = value };
        node.Next = node;
        return node;
    }

    /// <summary>Adds to a counter whose Count has a private setter, and returns it.</summary>
    [Remote]
    public static Counter AddTo(Counter counter, int amount)
    {
        counter.Add(amount);
        return counter;
    }

    /// <summary>Adds a line to an order whose Id and Lines are get-only auto-properties, and returns it.</summary>
    [Remote]
    public static Order AddLine(Order order, string line)
    {
        order.Lines.Add(line);
        return order;
    }

    [Remote]
    public static Sum Total(int a, int b) => new(a, b);

    /// <summary>What the worker sees of a DateTime: its round-trip text, its kind, and the instant in UTC.</summary>
    [Remote]
    public static string See(DateTime value) => $"{value:O}|{value.Kind}|{value.ToUniversalTime():O}";

    [Remote]
    public static DateTime Echo(DateTime value) => value;

    [Remote]
    public static Meeting Postpone(Meeting meeting) => meeting with { At = meeting.At.AddHours(1), Others = [.. meeting.Others, meeting.At] };

    [Remote]
    public static string TypeOf(object value) => value.GetType().FullName!;

    [Remote]
    public static object Wrap(int x) => new Point(x, x);

    [Remote]
    public static string KindOf(Vehicle vehicle) => vehicle.GetType().Name;

    [Remote]
    public static int Count(Drawing drawing) => drawing.Shapes.Count;

    public class Vehicle
    {
        public int Wheels { get; set; }
    }

    public sealed class Truck : Vehicle
    {
        public int Load { get; set; }
    }

    public interface IShape
    {
        double Area { get; }
    }

    public sealed record Circle(double Radius) : IShape
    {
        public double Area => Math.PI * Radius * Radius;
    }

    public sealed record Drawing(List<IShape> Shapes);

    public sealed class Node
    {
        public int Value { get; set; }

        public Node? Next { get; set; }
    }

    public sealed class Counter
    {
        public int Count { get; private set; }

        public void Add(int amount) => Count += amount;
    }

    public sealed class Order(string id)
    {
        public string Id { get; } = id;

        public List<string> Lines { get; } = [];
    }

    public sealed class Sum(int a, int b)
    {
        public int Total { get; } = a + b;
    }

    public sealed record Meeting(string Name, DateTime At, DateTime? Until, List<DateTime> Others);
}
