using AgentFlow.Diagnostics;
using YamlDotNet.Core;

namespace AgentFlow.Definitions.Yaml;

/// <summary>
/// Where each character of a scalar's decoded value sits in the file, so an error inside a template (a Fluid syntax
/// error, an unknown variable) points at its own line and column, whether the scalar is plain, quoted with escapes,
/// or a <c>|</c> / <c>&gt;</c> block.
/// </summary>
internal sealed class TemplateSourceMap
{
    private readonly string _file;
    private readonly int[] _lines;
    private readonly int[] _columns;

    private TemplateSourceMap(string file, int[] lines, int[] columns)
    {
        _file = file;
        _lines = lines;
        _columns = columns;
    }

    /// <summary>The location of character <paramref name="index"/> of the value (the value's length means just past its end).</summary>
    public SourceLocation At(int index)
    {
        index = Math.Clamp(index, 0, _lines.Length - 1);
        return new SourceLocation(_file, _lines[index], _columns[index]);
    }

    /// <summary>Aligns <paramref name="scalar"/>'s value with its raw text in <paramref name="source"/>; null when the marks do not fit the text.</summary>
    /// <remarks>A caller mapping many scalars of one file passes its <see cref="LineStarts"/> once, as <paramref name="lineStarts"/>.</remarks>
    public static TemplateSourceMap? Create(string file, string source, YamlTreeScalar scalar, int[]? lineStarts = null)
    {
        var start = (int)scalar.Start.Index;
        var end = (int)Math.Min(scalar.End.Index, source.Length);
        if (start < 0 || start > end)
        {
            return null;
        }

        // Where the content begins: past the opening quote, or on the line after a block header ("|", ">-", "|2 # x").
        var rawStart = scalar.Style switch
        {
            ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted => start + 1,
            ScalarStyle.Literal or ScalarStyle.Folded => source.IndexOf('\n', start) is var nl and >= 0 && nl < end ? nl + 1 : end,
            _ => start,
        };

        var value = scalar.Value;
        var offsets = new int[value.Length + 1];
        var j = rawStart;
        for (var i = 0; i < value.Length; i++)
        {
            j = Match(source, j, end, value, i, scalar.Style, out var consumed);
            offsets[i] = j < end ? j : Math.Max(rawStart, end - 1);
            if (consumed > 1 && i + 1 < value.Length && char.IsHighSurrogate(value[i]))
            {
                offsets[++i] = offsets[i - 1];
            }

            j = Math.Min(end, j + consumed);
        }

        offsets[value.Length] = Math.Min(j, Math.Max(rawStart, end));
        lineStarts ??= LineStarts(source);
        var lines = new int[offsets.Length];
        var columns = new int[offsets.Length];
        for (var i = 0; i < offsets.Length; i++)
        {
            var line = Array.BinarySearch(lineStarts, offsets[i]);
            line = line >= 0 ? line : ~line - 1;
            lines[i] = line + 1;
            columns[i] = offsets[i] - lineStarts[line] + 1;
        }

        return new TemplateSourceMap(file, lines, columns);
    }

    /// <summary>
    /// Finds the raw position, at or after <paramref name="j"/>, that produced <c>value[i]</c>; skips what YAML drops
    /// (indentation, folded line breaks, block headers). <paramref name="consumed"/> is the raw length of that character.
    /// </summary>
    private static int Match(string raw, int j, int end, string value, int i, ScalarStyle style, out int consumed)
    {
        var c = value[i];
        for (; j < end; j++)
        {
            if (style == ScalarStyle.DoubleQuoted && raw[j] == '\\' && j + 1 < end)
            {
                var next = raw[j + 1];
                if (next is '\n' or '\r')
                {
                    j++; // escaped line break: continues on the next line, produces nothing
                    continue;
                }

                consumed = next switch { 'x' => 4, 'u' => 6, 'U' => 10, _ => 2 };
                return j;
            }

            if (style == ScalarStyle.SingleQuoted && c == '\'' && raw[j] == '\'' && j + 1 < end && raw[j + 1] == '\'')
            {
                consumed = 2;
                return j;
            }

            if (raw[j] == c)
            {
                consumed = 1;
                return j;
            }
        }

        consumed = 0;
        return end;
    }

    /// <summary>Where each line of <paramref name="source"/> starts.</summary>
    public static int[] LineStarts(string source)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        return [.. starts];
    }
}
