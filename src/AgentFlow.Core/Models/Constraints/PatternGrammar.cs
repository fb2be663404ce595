namespace AgentFlow.Models.Constraints;

/// <summary>
/// Turns a JSON Schema <c>pattern</c> (ECMAScript regular expression) into the grammar of the JSON string contents
/// (between the quotes) that match it. The subset: literals and escaped metacharacters, <c>.</c>, classes
/// (<c>[A-Z0-9-]</c>, <c>[^,]</c>), <c>\d \w \s</c> (<c>\s</c> is a space), groups <c>( )</c> and <c>(?: )</c>,
/// <c>|</c>, quantifiers <c>? * + {n} {n,} {n,m}</c> (lazy <c>?</c> suffix accepted), anchors <c>^</c> and <c>$</c>
/// at the ends. Unbounded quantifiers repeat at most the string's length bound. A pattern without <c>^</c> (or
/// <c>$</c>) may have any characters before (or after) its match, as JSON Schema says. Characters are printable
/// ASCII; <c>"</c> and <c>\</c> are written escaped. Backreferences, lookaround and <c>\b</c> are refused.
/// </summary>
internal sealed class PatternGrammar
{
    private readonly string _pattern;
    private readonly int _bound;
    private int _position;

    private PatternGrammar(string pattern, int bound)
    {
        _pattern = pattern;
        _bound = bound;
    }

    /// <summary>The grammar of the string contents matching <paramref name="pattern"/>.</summary>
    /// <param name="pattern">The regular expression.</param>
    /// <param name="bound">Most repetitions of an unbounded quantifier (and characters around an unanchored match).</param>
    /// <exception cref="FormatException">The pattern uses an unsupported construct, or is malformed.</exception>
    public static GrammarNode Parse(string pattern, int bound)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var text = pattern;
        var anchoredStart = text.StartsWith('^');
        if (anchoredStart)
        {
            text = text[1..];
        }

        var anchoredEnd = text.EndsWith('$') && !text.EndsWith("\\$", StringComparison.Ordinal);
        if (anchoredEnd)
        {
            text = text[..^1];
        }

        var parser = new PatternGrammar(text, Math.Max(1, bound));
        var body = parser.Alternation();
        if (parser._position < text.Length)
        {
            throw parser.Error(text[parser._position] == ')' ? "unbalanced ')'" : $"unexpected '{text[parser._position]}'");
        }

        var free = GrammarNode.Repeat(JsonText.StringCharacter, 0, Math.Max(1, bound));
        return GrammarNode.Sequence(anchoredStart ? GrammarNode.Empty : free, body, anchoredEnd ? GrammarNode.Empty : free);
    }

    private GrammarNode Alternation()
    {
        var options = new List<GrammarNode> { Concatenation() };
        while (Peek() == '|')
        {
            _position++;
            options.Add(Concatenation());
        }

        return GrammarNode.Choice(options);
    }

    private GrammarNode Concatenation()
    {
        var parts = new List<GrammarNode>();
        while (Peek() is { } c && c != '|' && c != ')')
        {
            parts.Add(Quantified(Atom()));
        }

        return GrammarNode.Sequence(parts);
    }

    private GrammarNode Quantified(GrammarNode atom)
    {
        int min, max;
        switch (Peek())
        {
            case '?': min = 0; max = 1; _position++; break;
            case '*': min = 0; max = _bound; _position++; break;
            case '+': min = 1; max = _bound; _position++; break;
            case '{' when TryBraces(out min, out max): break;
            default: return atom;
        }

        if (Peek() == '?')
        {
            _position++;
        }

        if (Peek() is '*' or '+' or '?' or '{')
        {
            throw Error("a quantifier cannot follow another quantifier");
        }

        return GrammarNode.Repeat(atom, min, max);
    }

    private bool TryBraces(out int min, out int max)
    {
        min = max = 0;
        var close = _pattern.IndexOf('}', _position);
        if (close < 0)
        {
            return false;
        }

        var inner = _pattern[(_position + 1)..close];
        var comma = inner.IndexOf(',', StringComparison.Ordinal);
        var first = comma < 0 ? inner : inner[..comma];
        if (!int.TryParse(first, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out min))
        {
            return false;
        }

        if (comma < 0)
        {
            max = min;
        }
        else if (comma == inner.Length - 1)
        {
            max = Math.Max(min, _bound);
        }
        else if (!int.TryParse(inner[(comma + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out max))
        {
            return false;
        }

        if (max < min || max > JsonSchemaGrammar.MaxBound)
        {
            throw Error($"bad repetition {{{inner}}} (at most {JsonSchemaGrammar.MaxBound}, and max not below min)");
        }

        _position = close + 1;
        return true;
    }

    private GrammarNode Atom()
    {
        var c = _pattern[_position++];
        switch (c)
        {
            case '(':
                if (Peek() == '?')
                {
                    if (_position + 1 < _pattern.Length && _pattern[_position + 1] == ':')
                    {
                        _position += 2;
                    }
                    else
                    {
                        throw Error("lookaround and named groups are not supported");
                    }
                }

                var inner = Alternation();
                if (Peek() != ')')
                {
                    throw Error("missing ')'");
                }

                _position++;
                return inner;
            case '[':
                return Characters(Class());
            case '.':
                // Any character but a line break, as in ECMAScript.
                return Characters(ByteSet.Range(0x20, 0x7E));
            case '\\':
                return Characters(Escape(inClass: false));
            case '^' or '$':
                throw Error($"'{c}' is only supported at the start (^) or end ($) of the pattern");
            case '*' or '+' or '?':
                throw Error($"nothing to repeat before '{c}'");
            default:
                return Characters(Single(c));
        }
    }

    private ByteSet Class()
    {
        var negate = Peek() == '^';
        if (negate)
        {
            _position++;
        }

        var set = ByteSet.None;
        var first = true;
        while (true)
        {
            if (_position >= _pattern.Length)
            {
                throw Error("missing ']'");
            }

            var c = _pattern[_position];
            if (c == ']' && !first)
            {
                _position++;
                break;
            }

            first = false;
            _position++;
            var low = c == '\\' ? Escape(inClass: true) : Single(c);
            if (Peek() == '-' && _position + 1 < _pattern.Length && _pattern[_position + 1] != ']')
            {
                _position++;
                var d = _pattern[_position++];
                var high = d == '\\' ? Escape(inClass: true) : Single(d);
                var (from, to) = (low.First(), high.First());
                if (from > to)
                {
                    throw Error($"range out of order in class");
                }

                set = set.Union(ByteSet.Range((byte)from, (byte)to));
            }
            else
            {
                set = set.Union(low);
            }
        }

        var printable = ByteSet.Range(0x20, 0x7E);
        return negate ? printable.Except(set) : set.Intersect(printable);
    }

    private ByteSet Escape(bool inClass)
    {
        if (_position >= _pattern.Length)
        {
            throw Error("pattern ends with '\\'");
        }

        var c = _pattern[_position++];
        return c switch
        {
            'd' => ByteSet.Range((byte)'0', (byte)'9'),
            'w' => ByteSet.Range((byte)'a', (byte)'z').Union(ByteSet.Range((byte)'A', (byte)'Z')).Union(ByteSet.Range((byte)'0', (byte)'9')).Union(ByteSet.Of((byte)'_')),
            's' => ByteSet.Of((byte)' '),
            'D' or 'W' or 'S' => ByteSet.Range(0x20, 0x7E).Except(Escape(c)),
            'b' when !inClass => throw Error("'\\b' (word boundary) is not supported"),
            >= '1' and <= '9' => throw Error("backreferences are not supported"),
            'n' or 't' or 'r' or 'f' or 'v' or 'u' or 'x' or 'p' or 'P' or 'c' or 'k' or 'B' or '0' => throw Error($"'\\{c}' is not supported (only printable ASCII can be constrained)"),
            _ when c is >= (char)0x20 and <= (char)0x7E && !char.IsLetterOrDigit(c) => ByteSet.Of((byte)c),
            _ => throw Error($"unknown escape '\\{c}'"),
        };
    }

    private static ByteSet Escape(char upper) => upper switch
    {
        'D' => ByteSet.Range((byte)'0', (byte)'9'),
        'W' => ByteSet.Range((byte)'a', (byte)'z').Union(ByteSet.Range((byte)'A', (byte)'Z')).Union(ByteSet.Range((byte)'0', (byte)'9')).Union(ByteSet.Of((byte)'_')),
        _ => ByteSet.Of((byte)' '),
    };

    private ByteSet Single(char c)
    {
        if (c is < (char)0x20 or > (char)0x7E)
        {
            throw Error($"character U+{(int)c:X4} is not printable ASCII; only printable ASCII can be constrained");
        }

        return ByteSet.Of((byte)c);
    }

    // One string character from 'set', as JSON text: '"' and '\' are written escaped.
    private static GrammarNode Characters(ByteSet set)
    {
        var options = new List<GrammarNode>();
        var plain = set.Intersect(JsonText.PlainStringBytes);
        if (!plain.IsEmpty)
        {
            options.Add(GrammarNode.Bytes(plain));
        }

        if (set.Contains((byte)'"'))
        {
            options.Add(GrammarNode.Literal("\\\""));
        }

        if (set.Contains((byte)'\\'))
        {
            options.Add(GrammarNode.Literal("\\\\"));
        }

        return options.Count == 0 ? throw new FormatException("a character class of the pattern matches no printable ASCII character") : GrammarNode.Choice(options);
    }

    private char? Peek() => _position < _pattern.Length ? _pattern[_position] : null;

    private FormatException Error(string message) => new($"pattern '{_pattern}': {message} (at character {_position})");
}
