namespace AgentFlow.Models.Constraints;

/// <summary>The pieces of JSON text that grammars are made of (compact JSON: no whitespace between tokens).</summary>
internal static class JsonText
{
    /// <summary>Printable ASCII that may appear unescaped in a JSON string (not <c>"</c> or <c>\</c>).</summary>
    public static ByteSet PlainStringBytes { get; } = ByteSet.Range(0x20, 0x7E).Except(ByteSet.Of((byte)'"')).Except(ByteSet.Of((byte)'\\'));

    /// <summary>One character of a JSON string: plain printable ASCII, or the escapes <c>\"</c>, <c>\\</c>, <c>\n</c>, <c>\t</c>.</summary>
    public static GrammarNode StringCharacter { get; } = GrammarNode.Choice(
        GrammarNode.Bytes(PlainStringBytes),
        GrammarNode.Sequence(GrammarNode.Literal("\\"), GrammarNode.Bytes(Set("\"\\nt"))));

    /// <summary>A JSON string of <paramref name="min"/> to <paramref name="max"/> characters.</summary>
    public static GrammarNode String(int min, int max) => GrammarNode.Sequence(
        GrammarNode.Literal("\""), GrammarNode.Repeat(StringCharacter, min, max), GrammarNode.Literal("\""));

    /// <summary>A JSON integer of at most <paramref name="digits"/> digits, negative ones only when <paramref name="negative"/>.</summary>
    public static GrammarNode Integer(int digits, bool negative, bool zero)
    {
        var magnitude = GrammarNode.Sequence(GrammarNode.Bytes(ByteSet.Range((byte)'1', (byte)'9')), GrammarNode.Repeat(Digit, 0, digits - 1));
        var unsigned = zero ? GrammarNode.Choice(GrammarNode.Literal("0"), magnitude) : magnitude;
        return negative ? GrammarNode.Sequence(GrammarNode.Optional(GrammarNode.Literal("-")), unsigned) : unsigned;
    }

    /// <summary>A JSON number: an integer part and up to <paramref name="fraction"/> fraction digits (no exponent).</summary>
    public static GrammarNode Number(int digits, int fraction, bool negative) => GrammarNode.Sequence(
        Integer(digits, negative, zero: true),
        GrammarNode.Optional(GrammarNode.Sequence(GrammarNode.Literal("."), GrammarNode.Repeat(Digit, 1, fraction))));

    /// <summary>One ASCII digit.</summary>
    public static GrammarNode Digit { get; } = GrammarNode.Bytes(ByteSet.Range((byte)'0', (byte)'9'));

    /// <summary>The bytes of <paramref name="characters"/> (ASCII).</summary>
    public static ByteSet Set(string characters)
    {
        var set = ByteSet.None;
        foreach (var c in characters)
        {
            set = set.Union(ByteSet.Of((byte)c));
        }

        return set;
    }

    /// <summary>The compact JSON text of a string value (non-ASCII escaped as <c>\uXXXX</c>).</summary>
    public static string Quote(string value) => System.Text.Json.JsonSerializer.Serialize(value, JsonContext.Default.String);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class JsonContext : System.Text.Json.Serialization.JsonSerializerContext;
