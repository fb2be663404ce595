using System.Globalization;
using System.Text.RegularExpressions;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using Fluid;

namespace AgentFlow.Templates;

/// <summary>
/// The one Fluid parser and option set AgentFlow uses. Fluid is sandboxed: templates see only the values a
/// <see cref="TemplateScope"/> puts in, never .NET members, and a step limit stops runaway loops.
/// </summary>
internal static partial class LiquidEngine
{
    /// <summary>Most statements one render may execute (a <c>for</c> over a huge range stops here).</summary>
    public const int MaxSteps = 100_000;

    public static FluidParser Parser { get; } = new(new FluidParserOptions { AllowFunctions = false });

    public static TemplateOptions Options { get; } = new()
    {
        MaxSteps = MaxSteps,
        // An empty strategy: no CLR type is registered, so no object member is reachable from a template.
        MemberAccessStrategy = new DefaultMemberAccessStrategy(),
        CultureInfo = CultureInfo.InvariantCulture,
    };

    /// <summary>Parses <paramref name="text"/>; on failure returns a diagnostic located as precisely as Fluid allows.</summary>
    public static bool TryParse(string text, SourceLocation start, string what, int prefixLength, out IFluidTemplate? template, out Diagnostic? diagnostic)
    {
        if (Parser.TryParse(text, out template, out var error))
        {
            diagnostic = null;
            return true;
        }

        diagnostic = new Diagnostic(Locate(start, error, prefixLength), "AF0301", $"invalid {what}: {Clean(error)}", "check the Liquid syntax: {{ value }}, {% if cond %}…{% endif %}");
        template = null;
        return false;
    }

    /// <summary>Compiles or throws; used at run time on definitions the validator already accepted.</summary>
    public static IFluidTemplate ParseOrThrow(TemplateText text, string what, string source, int prefixLength)
    {
        return TryParse(source, text.Location, what, prefixLength, out var template, out var diagnostic)
            ? template!
            : throw new DefinitionException([diagnostic!]);
    }

    // Fluid reports positions as "(line:col)" inside its message; map them onto the file when the text is one line.
    private static SourceLocation Locate(SourceLocation start, string? error, int prefixLength)
    {
        var match = error is null ? null : PositionPattern().Match(error);
        if (match is null || !match.Success)
        {
            return start;
        }

        var line = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var column = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        return line <= 1
            ? start with { Column = start.Column + Math.Max(0, column - 1 - prefixLength) }
            : start with { Line = start.Line + line - 1 };
    }

    // Fluid appends the source after "Source:"; the location already points there.
    private static string Clean(string? error)
    {
        var text = (error ?? "syntax error").Trim();
        var source = text.IndexOf("Source:", StringComparison.Ordinal);
        text = source >= 0 ? text[..source] : text;
        return PositionPattern().Replace(text, string.Empty).Replace(" at ", " ", StringComparison.Ordinal).Trim().TrimEnd('.');
    }

    [GeneratedRegex(@"\((\d+):(\d+)\)")]
    private static partial Regex PositionPattern();
}
