namespace Coiled.Remote;

/// <summary>
/// Marks a delegate parameter that takes a [Remote] method, passed by name as in <c>cluster.MapAsync(Jobs.Square, items)</c>.
/// The Coiled.Remote analyzers check what every call passes to such a parameter: a lambda, an anonymous method, a local
/// function, a method without [Remote], an extension method bound to a receiver or a delegate held in a variable is a
/// build error there (CR0007, CR0008, CR0013, CR0014).
/// </summary>
/// <remarks>
/// Every <see cref="Cluster"/> method that runs a [Remote] method marks its <c>method</c> parameter. Mark the parameter of
/// a method of your own that passes it on to the cluster, and the analyzers check that method's callers instead:
/// <code>
/// public static Task&lt;TResult[]&gt; MapTwiceAsync&lt;T, TResult&gt;(Cluster cluster, [RemoteMethodParameter] Func&lt;T, TResult&gt; method, T[] items)
///     =&gt; cluster.MapAsync(method, items.Concat(items));
/// </code>
/// </remarks>
[AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
public sealed class RemoteMethodParameterAttribute : Attribute
{
}
