using System.Reflection;
using Coiled.Remote.Generators.Analyzers;
using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Tests;

/// <summary>Every diagnostic's help link leads to a page, listed in the diagnostics index and in the release tracking file.</summary>
public sealed class DiagnosticDocsTests
{
    public static TheoryData<string> Ids()
    {
        var data = new TheoryData<string>();
        foreach (var field in typeof(DiagnosticDescriptors).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is DiagnosticDescriptor descriptor)
            {
                data.Add(descriptor.Id);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Descriptor_Id_HasPageIndexRowAndReleaseEntry(string id)
    {
        var root = RepositoryRoot();

        File.Exists(Path.Combine(root, "docs", "diagnostics", $"{id}.md")).Should().BeTrue();
        File.ReadAllText(Path.Combine(root, "docs", "diagnostics", $"{id}.md")).Should().StartWith($"# {id}: ");
        File.ReadAllText(Path.Combine(root, "docs", "diagnostics", "README.md")).Should().Contain($"| [{id}]({id}.md) | ");
        File.ReadAllText(Path.Combine(root, "src", "Coiled.Remote.Generators", "AnalyzerReleases.Unshipped.md")).Should().Contain($"{id} | Coiled.Remote | Error | ");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Coiled.Remote.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Coiled.Remote.sln above {AppContext.BaseDirectory}.");
    }
}
