namespace Coiled.Remote.Generators.Model;

/// <summary>How a stub hands the method's result back: the three shapes emit different invoker bodies.</summary>
internal enum RemoteReturnKind
{
    /// <summary>A synchronous value: <c>return Return(result, M(...));</c>.</summary>
    Value,

    /// <summary><see langword="void"/>: <c>M(...); return ReturnNothing(result);</c>.</summary>
    Nothing,

    /// <summary><c>Task</c>, <c>Task&lt;T&gt;</c>, <c>ValueTask</c> or <c>ValueTask&lt;T&gt;</c>: <c>return Await(M(...), result);</c>.</summary>
    Awaited,
}
