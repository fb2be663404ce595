using System.Text;

namespace AgentFlow.Models.Constraints;

/// <summary>
/// A grammar over bytes that constrained decoding follows: sequences, choices, bounded repetitions and byte sets.
/// Repetitions are always bounded and there is no recursion, so every grammar (except one using
/// <see cref="AnyText"/>) has a longest output: a constrained generation cannot run on forever.
/// Build one with the factory methods, or from a JSON Schema with <see cref="JsonSchemaGrammar"/>.
/// </summary>
public abstract class GrammarNode
{
    private protected GrammarNode()
    {
    }

    /// <summary>The empty text.</summary>
    public static GrammarNode Empty { get; } = new SequenceNode([]);

    /// <summary>Any text at all, of any length (free text: only the token limit ends it).</summary>
    public static GrammarNode AnyText { get; } = new AnyTextNode();

    /// <summary>Exactly the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static GrammarNode Literal(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length == 1 ? new BytesNode(ByteSet.Of(bytes[0])) : new SequenceNode([.. bytes.Select(b => (GrammarNode)new BytesNode(ByteSet.Of(b)))]);
    }

    /// <summary>One byte of <paramref name="set"/>.</summary>
    /// <exception cref="ArgumentException">The set is empty.</exception>
    public static GrammarNode Bytes(ByteSet set)
    {
        if (set.IsEmpty)
        {
            throw new ArgumentException("a byte set in a grammar must not be empty", nameof(set));
        }

        return new BytesNode(set);
    }

    /// <summary>The parts one after another.</summary>
    public static GrammarNode Sequence(params IEnumerable<GrammarNode> parts) => new SequenceNode([.. parts]);

    /// <summary>Any one of the options.</summary>
    /// <exception cref="ArgumentException">There is no option.</exception>
    public static GrammarNode Choice(params IEnumerable<GrammarNode> options)
    {
        var list = options.ToArray();
        return list.Length switch
        {
            0 => throw new ArgumentException("a choice needs at least one option", nameof(options)),
            1 => list[0],
            _ => new ChoiceNode(list),
        };
    }

    /// <summary><paramref name="node"/> from <paramref name="min"/> to <paramref name="max"/> times.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The bounds are negative or reversed.</exception>
    public static GrammarNode Repeat(GrammarNode node, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentOutOfRangeException.ThrowIfNegative(min);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, min);
        return new RepeatNode(node, min, max);
    }

    /// <summary><paramref name="node"/> or nothing.</summary>
    public static GrammarNode Optional(GrammarNode node) => Repeat(node, 0, 1);

    /// <summary>
    /// Any text that does not begin with <paramref name="prefix"/> (the empty text included): free text that may not
    /// start a tool call.
    /// </summary>
    public static GrammarNode TextNotStartingWith(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var bytes = Encoding.UTF8.GetBytes(prefix);

        // After matching k bytes of the prefix: end here, or leave the prefix with any other byte and then write
        // anything, or match byte k. Matching the whole prefix is not allowed.
        GrammarNode tail = Empty;
        var built = false;
        for (var k = bytes.Length - 1; k >= 0; k--)
        {
            var leave = Sequence(Bytes(ByteSet.All.Except(ByteSet.Of(bytes[k]))), AnyText);
            tail = built
                ? Choice(Empty, leave, Sequence(Bytes(ByteSet.Of(bytes[k])), tail))
                : Choice(Empty, leave);
            built = true;
        }

        return tail;
    }
}

internal sealed class BytesNode(ByteSet set) : GrammarNode
{
    public ByteSet Set { get; } = set;
}

internal sealed class SequenceNode(GrammarNode[] parts) : GrammarNode
{
    public GrammarNode[] Parts { get; } = parts;
}

internal sealed class ChoiceNode(GrammarNode[] options) : GrammarNode
{
    public GrammarNode[] Options { get; } = options;
}

internal sealed class RepeatNode(GrammarNode node, int min, int max) : GrammarNode
{
    public GrammarNode Node { get; } = node;

    public int Min { get; } = min;

    public int Max { get; } = max;
}

internal sealed class AnyTextNode : GrammarNode;
