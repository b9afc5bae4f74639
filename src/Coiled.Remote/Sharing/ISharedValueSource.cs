namespace Coiled.Remote.Sharing;

/// <summary>The shared values a task stream's executor holds, read as the types its tasks ask for.</summary>
internal interface ISharedValueSource
{
    /// <summary>The value named <paramref name="hash"/> as <typeparamref name="T"/>, read once per type and then the same object for every task.</summary>
    /// <exception cref="Stubs.RemoteArgumentException">The stream holds no such value, or it cannot be read as <typeparamref name="T"/>.</exception>
    T Read<T>(ValueHash hash);
}
