using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Coiled.Remote.Generators.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Coiled.Remote.Generators;

/// <summary>
/// What makes a [Remote] method callable from a generated stub. The analyzers report these problems and the
/// generator skips any method that has one, so the two can never disagree.
/// </summary>
internal static class RemoteMethodRules
{
    public const string RemoteAttributeMetadataName = "Coiled.Remote.RemoteAttribute";

    /// <summary>Most arguments a stub passes, not counting a trailing <c>CancellationToken</c>.</summary>
    public const int MaxArguments = 4;

    /// <summary>
    /// Every reason <paramref name="method"/> cannot get a stub. A method whose signature is fine but whose id another
    /// valid [Remote] overload shares gets CR0010, as does that overload: neither gets a stub.
    /// </summary>
    public static List<RemoteMethodProblem> FindProblems(IMethodSymbol method, INamedTypeSymbol remoteAttribute, CancellationToken cancellationToken)
    {
        var problems = FindSignatureProblems(method, cancellationToken);
        if (problems.Count == 0 && SharesId(method, remoteAttribute, cancellationToken) is { } id)
        {
            problems.Add(new(DiagnosticDescriptors.DuplicateId, method.Locations.FirstOrDefault(), DisplayName(method), id));
        }

        return problems;
    }

    public static bool HasAttribute(ISymbol symbol, INamedTypeSymbol attributeClass)
    {
        foreach (var attribute in symbol.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, attributeClass))
            {
                return true;
            }
        }

        return false;
    }

    private static List<RemoteMethodProblem> FindSignatureProblems(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var problems = new List<RemoteMethodProblem>();
        var name = DisplayName(method);
        var location = method.Locations.FirstOrDefault();

        // A member of a C# 14 extension block is implemented by a method of the enclosing class that the stub cannot
        // name through the block; every other rule would only add advice that does not apply there.
        if (method.ContainingType is { IsExtension: true })
        {
            problems.Add(new(DiagnosticDescriptors.InExtensionBlock, location, name, method.ContainingType.ContainingType.Name));
            return problems;
        }

        // A static abstract or virtual interface member can be named only through a type parameter, which a stub has not.
        if (method.IsStatic && method.ContainingType.TypeKind == TypeKind.Interface && (method.IsAbstract || method.IsVirtual))
        {
            problems.Add(new(DiagnosticDescriptors.InterfaceStaticMember, location, name, method.IsAbstract ? "abstract" : "virtual", method.ContainingType.Name));
        }

        if (!method.IsStatic)
        {
            problems.Add(new(DiagnosticDescriptors.NotStatic, location, name));
        }

        if (method.IsGenericMethod || IsInGenericType(method))
        {
            problems.Add(new(DiagnosticDescriptors.Generic, location, name));
        }

        if (FindInaccessibility(method) is { } inaccessibility)
        {
            problems.Add(new(DiagnosticDescriptors.NotAccessible, location, name, inaccessibility));
        }

        var parameters = method.Parameters;
        for (var i = 0; i < parameters.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var parameter = parameters[i];
            var parameterLocation = parameter.Locations.FirstOrDefault() ?? location;
            if (DescribeByReference(parameter) is { } byReference)
            {
                problems.Add(new(DiagnosticDescriptors.ParameterByReference, parameterLocation, name, parameter.Name, byReference));
            }
            else if (SerializableTypes.IsCancellationToken(parameter.Type))
            {
                if (i != parameters.Length - 1)
                {
                    problems.Add(new(
                        DiagnosticDescriptors.ParameterNotSerializable,
                        parameterLocation,
                        name,
                        parameter.Name,
                        "a CancellationToken is supplied by the cluster, and only as the method's last parameter; move it to the end"));
                }
            }
            else if (SerializableTypes.FindProblem(parameter.Type, parameter: true) is { } problem)
            {
                problems.Add(new(DiagnosticDescriptors.ParameterNotSerializable, parameterLocation, name, parameter.Name, problem));
            }
        }

        if (method.IsVararg)
        {
            problems.Add(new(
                DiagnosticDescriptors.ParameterNotSerializable,
                location,
                name,
                "__arglist",
                "a variable argument list has no types to read the arguments as; take an array instead"));
        }

        var argumentCount = parameters.Length - (AcceptsCancellation(method) ? 1 : 0);
        if (argumentCount > MaxArguments)
        {
            problems.Add(new(DiagnosticDescriptors.TooManyParameters, location, name, argumentCount));
        }

        if (DescribeUnserializableReturn(method) is { } returnProblem)
        {
            problems.Add(new(DiagnosticDescriptors.ReturnNotSerializable, ReturnTypeLocation(method, cancellationToken) ?? location, name, returnProblem));
        }

        return problems;
    }

    /// <summary>Whether the method's last parameter is a by-value <c>CancellationToken</c> that the stub supplies.</summary>
    public static bool AcceptsCancellation(IMethodSymbol method)
        => method.Parameters.Length > 0
            && method.Parameters[method.Parameters.Length - 1] is { RefKind: RefKind.None } last
            && SerializableTypes.IsCancellationToken(last.Type);

    /// <summary>How messages name a method: <c>Jobs.Square</c>, <c>Outer.Inner.Square</c>.</summary>
    public static string DisplayName(IMethodSymbol method)
    {
        // A C# 14 extension block has no name of its own: its members are named after the class that holds the block.
        var type = method.ContainingType is { IsExtension: true } extension ? extension.ContainingType : method.ContainingType;
        return $"{type.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat)}.{method.Name}";
    }

    /// <summary>
    /// The id of <paramref name="method"/> when another [Remote] overload that could get a stub has the same one, else null.
    /// Ids are unique within an assembly otherwise: they include the declaring type and every parameter type, so only
    /// parameter types whose full names are the same (from two assemblies, one under an extern alias) can collide.
    /// </summary>
    private static string? SharesId(IMethodSymbol method, INamedTypeSymbol remoteAttribute, CancellationToken cancellationToken)
    {
        string? id = null;
        foreach (var member in method.ContainingType.GetMembers(method.Name))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (member is not IMethodSymbol { MethodKind: MethodKind.Ordinary, IsAbstract: false } other
                || IsSameMethod(other, method)
                || !HasAttribute(other, remoteAttribute)
                || other.Parameters.Length != method.Parameters.Length)
            {
                continue;
            }

            id ??= RemoteMethodId.Of(method);
            if (RemoteMethodId.Of(other) == id && FindSignatureProblems(other, cancellationToken).Count == 0)
            {
                return id;
            }
        }

        return null;
    }

    /// <summary>Whether the two are one method, or the two parts of one partial method.</summary>
    private static bool IsSameMethod(IMethodSymbol first, IMethodSymbol second)
        => SymbolEqualityComparer.Default.Equals(first.PartialDefinitionPart ?? first, second.PartialDefinitionPart ?? second);

    private static bool IsInGenericType(IMethodSymbol method)
    {
        for (var type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            if (type.TypeParameters.Length > 0)
            {
                return true;
            }
        }

        return false;
    }

    private static string? FindInaccessibility(IMethodSymbol method)
    {
        if (DescribeHiddenAccessibility(method.DeclaredAccessibility) is { } access)
        {
            return $"it is {access}";
        }

        for (var type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            if (type.IsFileLocal)
            {
                return $"its containing type '{type.Name}' is file-local";
            }

            if (DescribeHiddenAccessibility(type.DeclaredAccessibility) is { } typeAccess)
            {
                return $"its containing type '{type.Name}' is {typeAccess}";
            }
        }

        return null;
    }

    /// <summary>Accessibilities that hide a member from other code in the same assembly, where the stub lives.</summary>
    private static string? DescribeHiddenAccessibility(Accessibility accessibility) => accessibility switch
    {
        Accessibility.Private => "private",
        Accessibility.Protected => "protected",
        Accessibility.ProtectedAndInternal => "private protected",
        _ => null,
    };

    private static string? DescribeByReference(IParameterSymbol parameter)
    {
        var type = parameter.Type.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat);
        return parameter.RefKind switch
        {
            RefKind.Ref => "passed by 'ref'",
            RefKind.Out => "an 'out' parameter",
            RefKind.In => "passed by 'in'",
            RefKind.RefReadOnlyParameter => "passed by 'ref readonly'",
            _ when parameter.Type is IPointerTypeSymbol or IFunctionPointerTypeSymbol => $"a pointer ('{type}')",
            _ when parameter.Type.IsRefLikeType => $"a ref struct ('{type}')",
            _ => null,
        };
    }

    private static string? DescribeUnserializableReturn(IMethodSymbol method)
    {
        if (method.ReturnsByRef || method.ReturnsByRefReadonly)
        {
            return "it returns by reference; return the value itself";
        }

        if (method.ReturnsVoid && method.IsAsync)
        {
            return "it is async void, so the worker could not wait for it to end or learn that it failed (an exception would end the worker's process); return Task instead";
        }

        if (method.ReturnsVoid || SerializableTypes.IsNonGenericTask(method.ReturnType))
        {
            return null;
        }

        return SerializableTypes.FindProblem(SerializableTypes.UnwrapGenericTask(method.ReturnType) ?? method.ReturnType);
    }

    private static Location? ReturnTypeLocation(IMethodSymbol method, CancellationToken cancellationToken)
    {
        foreach (var reference in method.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(cancellationToken) is MethodDeclarationSyntax declaration)
            {
                return declaration.ReturnType.GetLocation();
            }
        }

        return null;
    }
}
