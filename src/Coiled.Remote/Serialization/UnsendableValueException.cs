namespace Coiled.Remote.Serialization;

/// <summary>
/// A value that cannot travel as it is, found while it was being written: a reference cycle or nesting deeper than
/// <see cref="RemoteSerializer.MaxDepth"/>, a value whose declared type would change what arrives, a type that cannot
/// be created on the other side or would arrive without part of its state, or a member MessagePack cannot write. On its way out it passes the formatters of the
/// values it is nested in (<see cref="GuardedFormatter{T}"/>), which add themselves to its trail, so that
/// <see cref="Describe"/> can say where.
/// </summary>
internal sealed class UnsendableValueException : Exception
{
    private readonly Problem _problem;
    private readonly Type? _declared;
    private readonly Type? _actual;
    private readonly string _detail;

    /// <summary>The values the failing one is nested in, innermost (the failing value itself) first.</summary>
    private readonly List<ValuePath.Step> _trail = [];

    /// <summary>What to write instead, when it is not the usual advice for the problem.</summary>
    private readonly string? _advice;

    private UnsendableValueException(Problem problem, Type? declared, Type? actual, string detail, Exception? inner = null, string? advice = null)
        : base(detail, inner)
    {
        _problem = problem;
        _declared = declared;
        _actual = actual;
        _detail = detail;
        _advice = advice;
    }

    private enum Problem
    {
        TooDeep,
        DeclaredType,
        Uncreatable,
        Incomplete,
        Unserializable,
    }

    public override string Message => Describe("The value", "value");

    /// <summary>Writing went deeper than <see cref="RemoteSerializer.MaxDepth"/>: a cycle, or a graph that deep.</summary>
    public static UnsendableValueException TooDeep() => new(Problem.TooDeep, null, null, string.Empty);

    /// <summary>A value whose runtime type is not its declared type, and would not arrive as itself.</summary>
    /// <param name="declared">The declared type.</param>
    /// <param name="actual">The value's runtime type.</param>
    /// <param name="consequence">What would happen instead, e.g. "only the members of Animal would travel".</param>
    /// <param name="advice">What to write instead; by default, to declare the runtime type.</param>
    public static UnsendableValueException DeclaredAs(Type declared, Type actual, string consequence, string? advice = null)
        => new(Problem.DeclaredType, declared, actual, consequence, advice: advice);

    /// <summary>A value of a class derived from its declared class, which would arrive as the declared class.</summary>
    public static UnsendableValueException DerivedFrom(Type declared, Type actual)
    {
        var name = TypeNames.Of(declared);
        if (!typeof(System.Collections.IEnumerable).IsAssignableFrom(declared))
        {
            return DeclaredAs(declared, actual, $"only the members of {name} would travel, and it would arrive as {name}");
        }

        // A collection class of the framework's own (a view such as SortedSet's) cannot be declared: its items can be copied.
        var consequence = $"only the items of {name} would travel, and it would arrive as {name}";
        return DeclaredAs(declared, actual, consequence, actual.IsVisible ? null : $"Pass a new {name} with its items instead.");
    }

    /// <summary>A type that cannot be created on the other side.</summary>
    /// <param name="type">The type.</param>
    /// <param name="reason">Why, and what to add.</param>
    public static UnsendableValueException Uncreatable(Type type, string reason) => new(Problem.Uncreatable, null, type, reason);

    /// <summary>A type whose values would arrive without part of their state.</summary>
    /// <param name="type">The type.</param>
    /// <param name="reason">What would be lost, and what to change.</param>
    public static UnsendableValueException Incomplete(Type type, string reason) => new(Problem.Incomplete, null, type, reason);

    /// <summary>MessagePack itself failed to write the value.</summary>
    public static UnsendableValueException Unserializable(Exception error)
        => new(Problem.Unserializable, null, null, error.GetBaseException().Message, error);

    /// <summary>
    /// Adds the value that <paramref name="value"/> is (or is nested in) to the trail. Called from exception filters as
    /// the exception passes each guarded formatter, before anything unwinds; returns false so that it passes on.
    /// </summary>
    public bool Passing(object? value, Type declared)
    {
        _trail.Add(new ValuePath.Step(value, declared));
        return false;
    }

    /// <summary>Adds the failing value itself to the trail and returns the exception, for throwing.</summary>
    public UnsendableValueException At(object? value, Type declared)
    {
        _trail.Add(new ValuePath.Step(value, declared));
        return this;
    }

    /// <summary>The value the trail starts from: the argument or result itself.</summary>
    public object? Root => _trail.Count == 0 ? null : _trail[^1].Value;

    /// <summary>A sentence for people: what is wrong with the value, where, and what to write instead.</summary>
    /// <param name="subject">What the value is, to start the sentence: "Argument 'n' of Jobs.Cycle", "The result".</param>
    /// <param name="rootDeclaration">What declares the value's type, for advice: "parameter", "return type".</param>
    public string Describe(string subject, string rootDeclaration)
    {
        var path = new ValuePath([.. Enumerable.Reverse(_trail)]);
        var last = path.Count - 1;
        var nested = last > 0;
        var declaration = nested ? "member" : rootDeclaration;
        switch (_problem)
        {
            case Problem.TooDeep when path.FindCycle(out var at, out var back):
                return $"{subject} has a reference cycle at {path.Render(at)}, which refers back to {path.Render(back)}. " +
                    "Arguments and results travel as copies, so a cycle would never end: break it before the call, for example leave " +
                    "the back-reference out with [IgnoreMember] and set it again on the other side.";
            case Problem.TooDeep:
                return $"{subject} is nested more than {RemoteSerializer.MaxDepth} levels deep, at {path.Render(last)}. " +
                    $"Arguments and results travel at most {RemoteSerializer.MaxDepth} levels of nested objects and collections deep: " +
                    "pass deep structures flat, for example a linked list as an array.";
            case Problem.DeclaredType:
                var actual = TypeNames.Of(_actual!);
                var where = nested ? $"holds a value of type {actual} at {path.Render(last)}" : $"is of type {actual}";
                return $"{subject} {where}, declared as {TypeNames.Of(_declared!)}: {_detail}. {_advice ?? $"Declare the {declaration} as {actual} instead."}";
            case Problem.Uncreatable:
                var type = TypeNames.Of(_actual!);
                var what = nested ? $"holds a value of type {type} at {path.Render(last)}" : $"is of type {type}";
                return $"{subject} {what}, which cannot be created on the other side: {_detail}";
            case Problem.Incomplete:
                var partial = TypeNames.Of(_actual!);
                var held = nested ? $"holds a value of type {partial} at {path.Render(last)}" : $"is of type {partial}";
                return $"{subject} {held}, which would not arrive whole: {_detail}";
            default:
                return nested
                    ? $"{subject} cannot be serialized at {path.Render(last)}: {_detail}"
                    : $"{subject} cannot be serialized: {_detail}";
        }
    }
}
