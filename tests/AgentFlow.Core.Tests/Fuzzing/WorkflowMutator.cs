using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AgentFlow.Core.Tests.Fuzzing;

/// <summary>
/// Seeded mutations of valid workflow files, aimed at what broke the loader before: byte flips, truncation, template
/// and YAML nesting bombs, huge numbers and durations, duplicate keys, alias bombs, broken flow collections and too
/// many steps. The same seed gives the same cases, so a failure is reproduced from its seed and index.
/// </summary>
internal sealed partial class WorkflowMutator(IReadOnlyList<byte[]> seeds, int seed)
{
    private static readonly string[] HugeValues =
    [
        "1e300", "1e300s", "99999999999999d", "1e15ms", "-1", "NaN", "Infinity", "1e400s", "2147483648", "99999999999999999999",
        "-0", "0x10", "1_000", "-2147483649", "0.0000001ms", "1e-300s", "4.9e-324", "1.7976931348623157e308", "9223372036854775807d",
    ];

    private static readonly string[] Specials = ["{", "}", "[", "]", ":", "- ", "&a ", "*a", "!", "%", "|", ">", "'", "\"", "\t", "\0", "\n", "{{", "{%", "%}", "}}", "#", "? ", "<<: *a"];

    private readonly Random _random = new(seed);

    /// <summary>The next case: one seed file with one to three mutations applied.</summary>
    public byte[] Next()
    {
        var bytes = seeds[_random.Next(seeds.Count)];
        var count = _random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            bytes = Mutate(bytes);
        }

        return bytes;
    }

    private byte[] Mutate(byte[] bytes) => _random.Next(12) switch
    {
        0 => FlipBytes(bytes),
        1 => bytes[.._random.Next(bytes.Length + 1)],
        2 => Text(bytes, TemplateBomb),
        3 => Text(bytes, YamlBomb),
        4 or 5 => Text(bytes, HugeNumber),
        6 => Text(bytes, DuplicateLine),
        7 => Text(bytes, AliasBomb),
        8 => Text(bytes, ShuffleLines),
        9 => Text(bytes, InsertSpecial),
        10 => Text(bytes, text => _random.Next(20) == 0 ? ManySteps(text) : text + "\na: { b: c\n- d\n"),
        _ => Text(bytes, ReplaceScalar),
    };

    private byte[] FlipBytes(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        for (var i = _random.Next(1, 9); i > 0 && copy.Length > 0; i--)
        {
            copy[_random.Next(copy.Length)] ^= (byte)(1 << _random.Next(8));
        }

        return copy;
    }

    private static byte[] Text(byte[] bytes, Func<string, string> change) => Encoding.UTF8.GetBytes(change(Encoding.UTF8.GetString(bytes)));

    private string TemplateBomb(string text)
    {
        // Around the limits: sometimes just under (must parse), sometimes far over (must be refused, not crash).
        var n = _random.Next(3) switch { 0 => _random.Next(50, 70), 1 => _random.Next(200, 300), _ => _random.Next(1000, 8000) };
        var bomb = _random.Next(8) switch
        {
            0 => Repeat("{% if inputs.a %}", n) + Repeat("{% endif %}", n),
            1 => Repeat("{% for x in (1..2) %}", n) + Repeat("{% endfor %}", n),
            2 => "{{ " + Repeat("a[", n) + "1" + new string(']', n) + " }}",
            3 => "{{ " + new string('(', n) + "1" + new string(')', n) + " }}",
            4 => "{{ a" + Repeat(" | upcase", n * 4) + " }}",
            5 => "{% if a" + Repeat(" and a", n * 4) + " %}x{% endif %}",
            6 => "{% liquid\n" + Repeat("if a\n", n) + Repeat("endif\n", n) + "%}",
            _ => Repeat("{% if a %}{% comment %}{% endif %}{% endcomment %}", n),
        };
        var literal = "\"" + bomb.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";
        var matches = TemplateKey().Matches(text);
        if (matches.Count == 0)
        {
            return text + "\n  - { id: bomb, agent: { model: m, prompt: " + literal + " } }\n";
        }

        var m = matches[_random.Next(matches.Count)];
        return string.Concat(text.AsSpan(0, m.Groups[2].Index), literal, text.AsSpan(m.Groups[2].Index + m.Groups[2].Length));
    }

    private string YamlBomb(string text)
    {
        var n = _random.Next(2) == 0 ? _random.Next(60, 70) : _random.Next(1000, 20000);
        var at = LineStart(text);
        var bomb = _random.Next(3) switch
        {
            0 => "deep: " + new string('[', n) + new string(']', n) + "\n",
            1 => "deep: " + Repeat("{a: ", n) + "1" + new string('}', n) + "\n",
            _ => string.Concat(Enumerable.Range(0, Math.Min(n, 200)).Select(i => new string(' ', i * 2) + "k:\n")),
        };
        return text.Insert(at, bomb);
    }

    private string HugeNumber(string text)
    {
        var matches = NumberPattern().Matches(text);
        if (matches.Count == 0)
        {
            return text;
        }

        var m = matches[_random.Next(matches.Count)];
        return string.Concat(text.AsSpan(0, m.Index), HugeValues[_random.Next(HugeValues.Length)], text.AsSpan(m.Index + m.Length));
    }

    private string DuplicateLine(string text)
    {
        var lines = text.Split('\n').ToList();
        var i = _random.Next(lines.Count);
        lines.Insert(i, lines[i]);
        return string.Join('\n', lines);
    }

    private string AliasBomb(string text)
    {
        var width = _random.Next(5, 12);
        var levels = _random.Next(3, 9);
        var bomb = new StringBuilder("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < levels; i++)
        {
            bomb.Append(CultureInfo.InvariantCulture, $"l{i}: &l{i} [{string.Join(", ", Enumerable.Repeat($"*l{i - 1}", width))}]\n");
        }

        return _random.Next(2) == 0 ? bomb + text : text.Insert(LineStart(text), bomb.ToString());
    }

    private string ShuffleLines(string text)
    {
        var lines = text.Split('\n').ToList();
        if (lines.Count < 2)
        {
            return text;
        }

        var (i, j) = (_random.Next(lines.Count), _random.Next(lines.Count));
        if (_random.Next(2) == 0)
        {
            (lines[i], lines[j]) = (lines[j], lines[i]);
        }
        else
        {
            lines.RemoveAt(i);
        }

        return string.Join('\n', lines);
    }

    private string InsertSpecial(string text) =>
        text.Insert(_random.Next(text.Length + 1), Specials[_random.Next(Specials.Length)]);

    private string ReplaceScalar(string text)
    {
        var matches = ScalarPattern().Matches(text);
        if (matches.Count == 0)
        {
            return text;
        }

        var m = matches[_random.Next(matches.Count)];
        string[] values = ["", "~", "[]", "{}", "[a, b]", "{ a: 1 }", "*nope", "&x", "!!binary AAAA", "\"\\u0000\"", "'", "true", "null", "- x", "|", ">-"];
        return string.Concat(text.AsSpan(0, m.Groups[2].Index), values[_random.Next(values.Length)], text.AsSpan(m.Groups[2].Index + m.Groups[2].Length));
    }

    private static string ManySteps(string text)
    {
        var steps = new StringBuilder(text.TrimEnd()).Append('\n');
        for (var i = 0; i < 1_100; i++)
        {
            steps.Append(CultureInfo.InvariantCulture, $"  - {{ id: fz{i}, agent: {{ model: m, prompt: \"{{{{ steps.fy{i}.output }}}}\" }} }}\n");
        }

        return steps.ToString();
    }

    private int LineStart(string text)
    {
        var at = _random.Next(text.Length + 1);
        var nl = text.LastIndexOf('\n', Math.Max(0, at - 1));
        return at == 0 || nl < 0 ? 0 : nl + 1;
    }

    private static string Repeat(string text, int count) => string.Concat(Enumerable.Repeat(text, count));

    [GeneratedRegex(@"(prompt|system|message|show|when|until|conversation|split_key):\s*(""[^""\n]*""|[^\n{}\[\],]+)")]
    private static partial Regex TemplateKey();

    [GeneratedRegex(@"(?<![\w.])\d+(\.\d+)?(ms|s|m|h|d)?(?![\w.])")]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"(\w+):[ ]+([^\n{}\[\],#]+)")]
    private static partial Regex ScalarPattern();
}
