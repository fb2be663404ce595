using System.Text.RegularExpressions;
using AgentFlow.Definitions;

namespace AgentFlow.Templates;

/// <summary>
/// A linear pre-scan of a template before Fluid parses it. Fluid's parser (and the AST walks after it) recurse once
/// per nesting level, so a few thousand nested <c>{% if %}</c>, <c>a[a[…]]</c> or <c>((…))</c>, or a long enough
/// chain of filters, overflow the stack, which .NET cannot catch: the process dies. This scan measures what drives that
/// recursion and refuses the template first, against <see cref="WorkflowLimits"/>.
/// </summary>
/// <remarks>
/// It follows Fluid's own lexing where it matters: text until <c>{{</c> or <c>{%</c>; quoted strings (with <c>\</c>
/// escapes) inside tags; <c>{% # … %}</c>, <c>comment</c>, <c>doc</c> and <c>raw</c> skipped to their end as Fluid
/// skips them; the lines of <c>{% liquid %}</c> as tags. Brackets and parentheses are counted everywhere, text and
/// strings included, so no disagreement about where a tag ends can hide them; the cost is that text with more than
/// <see cref="WorkflowLimits.MaxTemplateNesting"/> unclosed brackets is refused too.
/// </remarks>
internal sealed partial class TemplateGuard
{
    private static readonly HashSet<string> BlockTags = new(StringComparer.Ordinal) { "if", "unless", "case", "for", "capture", "tablerow", "ifchanged", "macro" };

    private readonly string _source;
    private readonly string _what;
    private int _i;
    private int _blocks;
    private int _brackets;

    private TemplateGuard(string source, string what)
    {
        _source = source;
        _what = what;
    }

    /// <summary>Where and why <paramref name="source"/> exceeds a limit; null when it is within all of them.</summary>
    /// <param name="source">The text Fluid will parse.</param>
    /// <param name="what">"template" or "condition", for the message.</param>
    public static (int Index, string Message, string Hint)? Check(string source, string what)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length > WorkflowLimits.MaxTemplateLength)
        {
            return (0, $"the {what} is {source.Length} characters long, more than the {WorkflowLimits.MaxTemplateLength} allowed",
                "keep long text out of the workflow file: pass it as an input and write {{ inputs.NAME }}");
        }

        return new TemplateGuard(source, what).Scan();
    }

    private (int, string, string)? Scan()
    {
        while (_i < _source.Length)
        {
            if (_source[_i] == '{' && _i + 1 < _source.Length && _source[_i + 1] is '{' or '%')
            {
                var tag = _source[_i + 1] == '%';
                _i += 2;
                if ((tag ? Tag() : Expression('}', liquid: false)) is { } error)
                {
                    return error;
                }
            }
            else if (Advance() is { } error)
            {
                return error;
            }
        }

        return null;
    }

    /// <summary>After <c>{%</c>: the tag's name decides how its body is read.</summary>
    private (int, string, string)? Tag()
    {
        var start = _i - 2;
        SkipWhile(c => c == '-' || char.IsWhiteSpace(c));
        if (_i < _source.Length && _source[_i] == '#')
        {
            return SkipPast("%}");
        }

        var name = Name();
        switch (name)
        {
            case "comment" or "doc" or "raw":
                if (SkipPast("%}") is { } inTag)
                {
                    return inTag;
                }

                // Fluid takes everything up to the first end tag as text, whatever it contains.
                var end = EndTag(name).Match(_source, _i);
                return SkipTo(end.Success ? end.Index + end.Length : _source.Length);
            case "liquid":
                return Expression('%', liquid: true);
            default:
                return Block(name, start) ?? Expression('%', liquid: false);
        }
    }

    /// <summary>Opens or closes a block for a tag <paramref name="name"/> that starts at <paramref name="at"/>.</summary>
    private (int, string, string)? Block(string name, int at)
    {
        if (BlockTags.Contains(name))
        {
            _blocks++;
            return Deeper(at);
        }

        if (name.StartsWith("end", StringComparison.Ordinal) && BlockTags.Contains(name[3..]))
        {
            _blocks = Math.Max(0, _blocks - 1);
        }

        return null;
    }

    /// <summary>The body of an output (<paramref name="close"/> '}') or a tag ('%'), up to its closing delimiter outside strings.</summary>
    private (int, string, string)? Expression(char close, bool liquid)
    {
        var chain = 0;
        var lineStart = liquid;
        while (_i < _source.Length)
        {
            var c = _source[_i];
            if (lineStart)
            {
                // In {% liquid %}, each line is a tag of its own.
                SkipWhile(char.IsWhiteSpace);
                var at = _i;
                if (Block(Name(), at) is { } error)
                {
                    return error;
                }

                lineStart = false;
                chain = 0;
                continue;
            }

            if (c == close && _i + 1 < _source.Length && _source[_i + 1] == '}')
            {
                _i += 2;
                return null;
            }

            if (c is '\'' or '"')
            {
                if (QuotedString(c) is { } error)
                {
                    return error;
                }

                continue;
            }

            var op = c switch
            {
                '|' => 1,
                '=' or '!' or '<' or '>' when _i == 0 || _source[_i - 1] is not ('=' or '!' or '<' or '>') => 1,
                _ when char.IsAsciiLetter(c) && (_i == 0 || !IsNameChar(_source[_i - 1])) => Word() is "and" or "or" or "contains" ? 1 : 0,
                _ => 0,
            };
            if (op > 0 && ++chain > WorkflowLimits.MaxTemplateChain)
            {
                return (_i, $"the {_what} chains more than {WorkflowLimits.MaxTemplateChain} filters and operators in one tag",
                    "split the expression: {% assign part = … %} and continue from part");
            }

            lineStart = liquid && c == '\n';
            if (Advance() is { } bracket)
            {
                return bracket;
            }
        }

        return null;
    }

    private (int, string, string)? QuotedString(char quote)
    {
        if (Advance() is { } open)
        {
            return open;
        }

        while (_i < _source.Length && _source[_i] != quote)
        {
            if (_source[_i] == '\\' && Advance() is { } escape)
            {
                return escape;
            }

            if (_i < _source.Length && Advance() is { } error)
            {
                return error;
            }
        }

        return _i < _source.Length ? Advance() : null;
    }

    /// <summary>Moves one character on, counting the brackets and parentheses it opens or closes.</summary>
    private (int, string, string)? Advance()
    {
        var c = _source[_i];
        if (c is '[' or '(')
        {
            _brackets++;
            if (Deeper(_i) is { } error)
            {
                return error;
            }
        }
        else if (c is ']' or ')')
        {
            _brackets = Math.Max(0, _brackets - 1);
        }

        _i++;
        return null;
    }

    private (int, string, string)? Deeper(int at) =>
        _blocks + _brackets > WorkflowLimits.MaxTemplateNesting
            ? (at, $"the {_what} nests blocks, brackets and parentheses more than {WorkflowLimits.MaxTemplateNesting} levels deep",
                "flatten it: end blocks sooner, {% assign %} intermediate values, or split it into several steps")
            : null;

    private (int, string, string)? SkipPast(string delimiter)
    {
        var end = _source.IndexOf(delimiter, _i, StringComparison.Ordinal);
        return SkipTo(end < 0 ? _source.Length : end + delimiter.Length);
    }

    private (int, string, string)? SkipTo(int end)
    {
        while (_i < end)
        {
            if (Advance() is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private void SkipWhile(Func<char, bool> predicate)
    {
        while (_i < _source.Length && predicate(_source[_i]))
        {
            _i++;
        }
    }

    /// <summary>Reads a tag name at the current position (empty when there is none).</summary>
    private string Name()
    {
        var start = _i;
        SkipWhile(IsNameChar);
        return _source[start.._i];
    }

    /// <summary>The word starting at the current position, without moving.</summary>
    private string Word()
    {
        var end = _i;
        while (end < _source.Length && IsNameChar(_source[end]) && end - _i < 9)
        {
            end++;
        }

        return _source[_i..end];
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static Regex EndTag(string name) => name switch
    {
        "comment" => EndComment(),
        "doc" => EndDoc(),
        _ => EndRaw(),
    };

    [GeneratedRegex(@"\{%-?\s*endcomment\s*-?%\}")]
    private static partial Regex EndComment();

    [GeneratedRegex(@"\{%-?\s*enddoc\s*-?%\}")]
    private static partial Regex EndDoc();

    [GeneratedRegex(@"\{%-?\s*endraw\s*-?%\}")]
    private static partial Regex EndRaw();
}
