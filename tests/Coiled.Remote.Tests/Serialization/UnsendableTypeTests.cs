namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Values that mean nothing in another process, or would arrive without part of themselves, are refused wherever they
/// are nested, with the reason and what to pass instead, rather than with MessagePack's own error or a silent loss.
/// </summary>
public sealed class UnsendableTypeTests
{
    [Fact]
    public void Write_StreamMember_RefusedSayingWhatToPassInstead()
    {
        var refusal = Wire.Refusal(new Upload("a.bin", new MemoryStream([1, 2])));

        refusal.Describe("Argument 'u' of Jobs.Store", "parameter").Should().Be(
            "Argument 'u' of Jobs.Store holds a value of type MemoryStream at Upload.Content, which cannot be created on the other side: " +
            "a stream is open in the process that made it. Pass a byte[], or a path the worker can read, instead.");
        Wire.RoundTrip(new Upload("empty", null)).Content.Should().BeNull();
    }

    [Fact]
    public void Write_NativeSizedIntegerMember_RefusedSayingToDeclareALong()
    {
        var refusal = Wire.Refusal(new Handle { Value = 42 });

        refusal.Describe("The result", "return type").Should().Be(
            "The result holds a value of type IntPtr at Handle.Value, which cannot be created on the other side: a native-sized integer is a " +
            "handle or address as often as a number, and means nothing in another process. Declare a number as long, and pass the data a " +
            "handle refers to instead of the handle.");
    }

    [Fact]
    public void Write_CancellationTokenOrTaskNested_RefusedSayingWhatToDoInstead()
    {
        Wire.Refusal(new Options("o", CancellationToken.None)).Describe("x", "parameter").Should().Be(
            "x holds a value of type CancellationToken at Options.Token, which cannot be created on the other side: a CancellationToken belongs " +
            "to the process that made it. Take one as the [Remote] method's last parameter: the cluster supplies it, and cancels it when the call is cancelled.");
        Wire.Refusal(new List<Task<int>> { Task.FromResult(1) }).Describe("x", "parameter").Should().Be(
            "x holds a value of type Task<int> at List<Task<int>>[0], which cannot be created on the other side: a task runs in the process " +
            "that started it. Await it and pass its result instead.");
    }

    [Fact]
    public void Write_Exception_RefusedSayingToPassItsTextOrThrowIt()
    {
        var refusal = Wire.Refusal(Thrown());

        refusal.Describe("Argument 'e' of Jobs.Report", "parameter").Should().Be(
            "Argument 'e' of Jobs.Report is of type InvalidOperationException, which cannot be created on the other side: an exception would " +
            "arrive without its stack trace, inner exceptions' types and data. Pass what you need of it (its message, or its ToString()) as a " +
            "string, or let the [Remote] method throw it: the call then fails with a RemoteException that carries all three.");
    }

    [Fact]
    public void Write_ArrayOfFiveDimensions_RefusedSayingHowToFlattenIt()
    {
        Wire.Refusal(new int[1, 1, 1, 1, 1]).Describe("x", "parameter").Should().Be(
            "x is of type int[,,,,], which cannot be created on the other side: arrays of more than 4 dimensions cannot travel. " +
            "Pass it as a jagged array, or flattened into a one-dimensional array with its lengths.");
        Wire.RoundTrip(new int[2, 1, 1, 3])[1, 0, 0, 2].Should().Be(0);
    }

    private static InvalidOperationException Thrown()
    {
        try
        {
            throw new InvalidOperationException("thrown");
        }
        catch (InvalidOperationException ex)
        {
            return ex;
        }
    }

    public sealed record Upload(string Name, MemoryStream? Content);

    public struct Handle
    {
        public nint Value { get; set; }
    }

    public sealed record Options(string Name, CancellationToken Token);
}
