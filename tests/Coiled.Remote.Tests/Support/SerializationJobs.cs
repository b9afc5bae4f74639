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

    public sealed class Node
    {
        public int Value { get; set; }

        public Node? Next { get; set; }
    }
}
