namespace Coiled.Remote.Sharing;

/// <summary>A <see cref="Shared{T}"/> passed as an argument that the call cannot pass; <see cref="Scheduling.ArgumentError"/> names the argument.</summary>
/// <param name="position">The argument's position.</param>
/// <param name="problem">What is wrong and what to do, as the end of a sentence whose subject is the argument.</param>
internal sealed class SharedHandleException(int position, string problem) : Exception(problem)
{
    public int Position { get; } = position;

    public string Problem { get; } = problem;
}
