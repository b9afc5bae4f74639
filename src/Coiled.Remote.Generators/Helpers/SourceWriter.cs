using System;
using System.Text;

namespace Coiled.Remote.Generators.Helpers;

/// <summary>Writes C# source line by line with four-space indentation, like System.Text.Json's generator.</summary>
internal sealed class SourceWriter
{
    private const int IndentSize = 4;
    private readonly StringBuilder _builder = new();
    private int _indentation;

    public void WriteLine(string line)
    {
        if (line.Length > 0)
        {
            _builder.Append(' ', _indentation * IndentSize);
        }

        _builder.Append(line).Append('\n');
    }

    public void WriteLine() => _builder.Append('\n');

    /// <summary>Writes <paramref name="header"/> (if any) and an opening brace, and indents what follows.</summary>
    public void OpenBlock(string? header = null)
    {
        if (header is not null)
        {
            WriteLine(header);
        }

        WriteLine("{");
        _indentation++;
    }

    public void CloseBlock()
    {
        if (_indentation == 0)
        {
            throw new InvalidOperationException("No block is open.");
        }

        _indentation--;
        WriteLine("}");
    }

    public override string ToString() => _builder.ToString();
}
