using AgentFlow.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace AgentFlow.Definitions.Yaml;

/// <summary>A node of a workflow file's YAML tree, with where it starts and ends (YamlDotNet marks: 1-based line and column).</summary>
internal abstract class YamlTreeNode(Mark start, Mark end)
{
    /// <summary>Where the node starts.</summary>
    public Mark Start { get; } = start;

    /// <summary>Just past where the node ends.</summary>
    public Mark End { get; } = end;

    /// <summary>Nodes in this subtree once aliases are expanded (saturates), to refuse alias bombs.</summary>
    public abstract long Weight { get; }

    /// <summary>"a list", "a mapping" or "a value", for messages.</summary>
    public abstract string Describe();
}

/// <summary>A scalar: its text exactly as YAML decodes it, and how it was written.</summary>
internal sealed class YamlTreeScalar(string value, ScalarStyle style, Mark start, Mark end) : YamlTreeNode(start, end)
{
    /// <summary>The decoded text (escapes resolved, block indentation removed).</summary>
    public string Value { get; } = value;

    /// <summary>Plain, quoted, literal (<c>|</c>) or folded (<c>&gt;</c>).</summary>
    public ScalarStyle Style { get; } = style;

    /// <summary>An empty plain value, <c>~</c> or <c>null</c>: YAML's null.</summary>
    public bool IsNull => (Style is ScalarStyle.Plain or ScalarStyle.Any) && Value is "" or "~" or "null" or "Null" or "NULL";

    /// <inheritdoc />
    public override long Weight => 1;

    /// <inheritdoc />
    public override string Describe() => "a value";
}

/// <summary>A YAML list.</summary>
internal sealed class YamlTreeSequence(IReadOnlyList<YamlTreeNode> items, Mark start, Mark end) : YamlTreeNode(start, end)
{
    /// <summary>The items in order.</summary>
    public IReadOnlyList<YamlTreeNode> Items { get; } = items;

    /// <inheritdoc />
    public override long Weight { get; } = YamlTree.Sum(items);

    /// <inheritdoc />
    public override string Describe() => "a list";
}

/// <summary>A YAML mapping whose keys are plain names, in file order, without duplicates (those are reported).</summary>
internal sealed class YamlTreeMapping(IReadOnlyList<YamlTreeEntry> entries, Mark start, Mark end) : YamlTreeNode(start, end)
{
    /// <summary>Key/value pairs in file order.</summary>
    public IReadOnlyList<YamlTreeEntry> Entries { get; } = entries;

    /// <inheritdoc />
    public override long Weight { get; } = YamlTree.Sum(entries.Select(e => e.Value));

    /// <inheritdoc />
    public override string Describe() => "a mapping";
}

/// <summary>One key of a mapping and its value.</summary>
internal readonly record struct YamlTreeEntry(YamlTreeScalar Key, YamlTreeNode Value)
{
    /// <summary>The key text.</summary>
    public string Name => Key.Value;
}

/// <summary>
/// Builds a <see cref="YamlTreeNode"/> tree from YamlDotNet's parser events. Unlike YamlDotNet's representation model
/// it keeps going past duplicate keys (reported, first one kept) and non-scalar keys, refuses nesting that could
/// exhaust the stack and aliases that expand without bound, and turns every YamlDotNet exception into a diagnostic.
/// </summary>
internal static class YamlTree
{
    /// <summary>Deepest nesting of lists and mappings accepted.</summary>
    public const int MaxDepth = WorkflowLimits.MaxYamlDepth;

    /// <summary>Most nodes a document may expand to through aliases.</summary>
    public const long MaxWeight = WorkflowLimits.MaxYamlNodes;

    /// <summary>Parses <paramref name="text"/>; returns the root of its single document, or null when there is none or it is unreadable.</summary>
    public static YamlTreeNode? Parse(string text, string path, List<Diagnostic> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(diagnostics);
        var builder = new Builder(path, diagnostics, new Parser(new StringReader(text)));
        try
        {
            return builder.Document();
        }
        catch (YamlException ex)
        {
            diagnostics.Add(new Diagnostic(At(path, ex.Start), "AF0101", $"YAML syntax error: {Message(ex)}",
                "fix the YAML syntax at this position (indentation, quotes, ':' after keys)"));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // YamlDotNet's scanner fails this way on some malformed flow collections (e.g. "a: { b: c" then "- d"):
            // still a syntax error, located just past the last part read.
            diagnostics.Add(new Diagnostic(At(path, builder.LastEnd), "AF0101", "YAML syntax error: the YAML cannot be read past this point",
                "look for an unclosed '{', '[' or quote here or just after"));
            return null;
        }
        catch (TooDeepException ex)
        {
            diagnostics.Add(new Diagnostic(At(path, ex.Mark), "AF0122", $"YAML nested more than {MaxDepth} levels deep",
                "a workflow never needs this much nesting: flatten it"));
            return null;
        }
    }

    /// <summary>A diagnostic location for a YamlDotNet mark.</summary>
    public static SourceLocation At(string path, Mark mark) =>
        new(path, (int)Math.Clamp(mark.Line, 1, int.MaxValue), (int)Math.Clamp(mark.Column, 1, int.MaxValue));

    internal static long Sum(IEnumerable<YamlTreeNode> nodes)
    {
        long total = 1;
        foreach (var node in nodes)
        {
            total = Math.Min(long.MaxValue / 2, total + node.Weight);
        }

        return total;
    }

    private static string Message(YamlException ex)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: …): "; the location is printed separately.
        var message = ex.Message;
        var dash = message.IndexOf("): ", StringComparison.Ordinal);
        return (dash >= 0 ? message[(dash + 3)..] : message).Trim().TrimEnd('.');
    }

    private sealed class TooDeepException(Mark mark) : Exception
    {
        public Mark Mark { get; } = mark;
    }

    private sealed class Builder(string path, List<Diagnostic> diagnostics, Parser parser)
    {
        private readonly Dictionary<string, YamlTreeNode> _anchors = new(StringComparer.Ordinal);

        /// <summary>Where the last event read ends.</summary>
        public Mark LastEnd { get; private set; } = Mark.Empty;

        public YamlTreeNode? Document()
        {
            Next(); // StreamStart
            Next();
            if (parser.Current is not DocumentStart)
            {
                return null; // empty stream
            }

            Next();
            var root = parser.Current is DocumentEnd ? null : Node(depth: 0);
            Next(); // DocumentEnd
            if (parser.Current is DocumentStart second)
            {
                diagnostics.Add(new Diagnostic(At(path, second.Start), "AF0121", "a workflow file holds one YAML document; this is a second one",
                    "remove the '---' and what follows, or move it to its own file"));
            }

            if (root is not null && root.Weight > MaxWeight)
            {
                diagnostics.Add(new Diagnostic(At(path, root.Start), "AF0122", $"the document expands to more than {MaxWeight} nodes (through aliases)",
                    "use fewer aliases ('*name')"));
                return null;
            }

            return root;
        }

        private void Next()
        {
            if (!parser.MoveNext())
            {
                throw new YamlException(parser.Current?.End ?? Mark.Empty, parser.Current?.End ?? Mark.Empty, "unexpected end of the document");
            }

            LastEnd = parser.Current?.End ?? LastEnd;
        }

        /// <summary>Reads the node at the current event and moves past it.</summary>
        private YamlTreeNode Node(int depth)
        {
            var current = parser.Current!;
            YamlTreeNode node;
            switch (current)
            {
                case AnchorAlias alias:
                    Next();
                    if (_anchors.TryGetValue(alias.Value.Value, out var target))
                    {
                        return target;
                    }

                    diagnostics.Add(new Diagnostic(At(path, alias.Start), "AF0101", $"YAML syntax error: unknown alias '*{alias.Value.Value}'",
                        $"define the anchor first, e.g. key: &{alias.Value.Value} value"));
                    // Stands in as the alias text itself, so the value's own checks do not add a second error.
                    return new YamlTreeScalar("*" + alias.Value.Value, ScalarStyle.Plain, alias.Start, alias.End);

                case Scalar scalar:
                    Next();
                    node = new YamlTreeScalar(scalar.Value, scalar.Style, scalar.Start, scalar.End);
                    break;

                case SequenceStart sequence:
                    Deeper(depth, sequence.Start);
                    Next();
                    var items = new List<YamlTreeNode>();
                    while (parser.Current is not SequenceEnd)
                    {
                        items.Add(Node(depth + 1));
                    }

                    node = new YamlTreeSequence(items, sequence.Start, parser.Current.End);
                    Next();
                    break;

                case MappingStart mapping:
                    Deeper(depth, mapping.Start);
                    Next();
                    node = Mapping(depth, mapping);
                    break;

                default:
                    throw new YamlException(current.Start, current.End, $"unexpected {current.GetType().Name}");
            }

            if (current is NodeEvent { Anchor.IsEmpty: false } anchored)
            {
                _anchors[anchored.Anchor.Value] = node;
            }

            return node;
        }

        private YamlTreeMapping Mapping(int depth, MappingStart start)
        {
            var entries = new List<YamlTreeEntry>();
            var seen = new Dictionary<string, YamlTreeScalar>(StringComparer.Ordinal);
            while (parser.Current is not MappingEnd)
            {
                var key = Node(depth + 1);
                var value = Node(depth + 1);
                if (key is not YamlTreeScalar name)
                {
                    diagnostics.Add(new Diagnostic(At(path, key.Start), "AF0102", $"a key must be a name, not {key.Describe()}",
                        "write keys as plain names, e.g. prompt: ..."));
                }
                else if (seen.TryGetValue(name.Value, out var first))
                {
                    diagnostics.Add(new Diagnostic(At(path, name.Start), "AF0120", $"duplicate key '{name.Value}' (first at line {first.Start.Line})",
                        "a key may appear once per mapping: remove one"));
                }
                else
                {
                    seen.Add(name.Value, name);
                    entries.Add(new YamlTreeEntry(name, value));
                }
            }

            var node = new YamlTreeMapping(entries, start.Start, parser.Current.End);
            Next();
            return node;
        }

        private static void Deeper(int depth, Mark at)
        {
            if (depth >= MaxDepth)
            {
                throw new TooDeepException(at);
            }
        }
    }
}
