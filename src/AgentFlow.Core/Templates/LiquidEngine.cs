using System.Globalization;
using System.Text.RegularExpressions;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using Fluid;
using Microsoft.Extensions.FileProviders;

namespace AgentFlow.Templates;

/// <summary>
/// The one Fluid parser and option set AgentFlow uses, shared by every template (Fluid's parser and a template
/// parsed once are safe to use from many threads; each render gets its own context). Sandboxed: templates see only
/// the values a <see cref="TemplateScope"/> puts in, never .NET members; no file is reachable (<c>include</c> and
/// <c>render</c> find nothing); unknown filters fail; limits stop runaway loops and recursion.
/// </summary>
internal static partial class LiquidEngine
{
    /// <summary>Most statements one render may execute (a <c>for</c> over a huge range stops here).</summary>
    public const int MaxSteps = 100_000;

    /// <summary>Deepest nesting of blocks a render may reach.</summary>
    public const int MaxRecursion = 32;

    public static FluidParser Parser { get; } = new(new FluidParserOptions { AllowFunctions = false });

    public static TemplateOptions Options { get; } = CreateOptions();

    private static TemplateOptions CreateOptions()
    {
        var options = new TemplateOptions
        {
            MaxSteps = MaxSteps,
            MaxRecursion = MaxRecursion,
            // An empty strategy: no CLR type is registered, so no object member is reachable from a template.
            MemberAccessStrategy = new DefaultMemberAccessStrategy(),
            FileProvider = new NullFileProvider(),
            CultureInfo = CultureInfo.InvariantCulture,
            StrictFilters = true,
        };
        return options;
    }

    /// <summary>Whether Liquid has a filter named <paramref name="name"/>.</summary>
    public static bool HasFilter(string name) => Options.Filters.TryGetValue(name, out _);

    /// <summary>Every filter name, for suggestions.</summary>
    public static IEnumerable<string> FilterNames => Options.Filters.Select(f => f.Key);

    /// <summary>
    /// Parses <paramref name="source"/> (the text of <paramref name="text"/>, after <paramref name="prefixLength"/>
    /// characters of wrapping); on failure returns a diagnostic at the position Fluid reports, mapped into the file.
    /// </summary>
    public static bool TryParse(string source, TemplateText text, string what, int prefixLength, out IFluidTemplate? template, out Diagnostic? diagnostic)
    {
        // Every template reaches Fluid through here: the guard keeps a hostile one from overflowing the stack.
        if (TemplateGuard.Check(source, what) is var (index, message, hint))
        {
            diagnostic = new Diagnostic(text.LocationOf(Math.Clamp(index - prefixLength, 0, text.Text.Length)), "AF0130", message, hint);
            template = null;
            return false;
        }

        if (Parser.TryParse(source, out template, out var error))
        {
            diagnostic = null;
            return true;
        }

        diagnostic = new Diagnostic(Locate(source, text, error, prefixLength), "AF0301", $"invalid {what}: {Clean(error)}",
            what == "condition"
                ? "a condition is what goes inside {% if … %}, e.g. steps.a.output contains 'yes' and inputs.count > 2"
                : "check the Liquid syntax: {{ value }}, {{ value | filter: arg }}, {% if cond %}…{% endif %}");
        template = null;
        return false;
    }

    /// <summary>Compiles or throws; used at run time on definitions the validator already accepted.</summary>
    public static IFluidTemplate ParseOrThrow(TemplateText text, string what, string source, int prefixLength) =>
        TryParse(source, text, what, prefixLength, out var template, out var diagnostic)
            ? template!
            : throw new DefinitionException([diagnostic!]);

    // Fluid reports "(line:col)" (1-based) in the parsed source; map it to a character of the text, then into the file.
    private static SourceLocation Locate(string source, TemplateText text, string? error, int prefixLength)
    {
        var match = error is null ? null : PositionPattern().Match(error);
        if (match is null || !match.Success)
        {
            return text.Location;
        }

        var line = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var column = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        var index = 0;
        for (var l = 1; l < line && index >= 0; l++)
        {
            index = source.IndexOf('\n', index);
            index = index < 0 ? -1 : index + 1;
        }

        return index < 0 ? text.Location : text.LocationOf(Math.Clamp(index + column - 1 - prefixLength, 0, text.Text.Length));
    }

    // Fluid appends the source after "Source:"; the location already points there.
    private static string Clean(string? error)
    {
        var message = (error ?? "syntax error").Trim();
        var source = message.IndexOf("Source:", StringComparison.Ordinal);
        message = source >= 0 ? message[..source] : message;
        return PositionPattern().Replace(message, string.Empty).Replace(" at ", " ", StringComparison.Ordinal).Trim().TrimEnd('.');
    }

    [GeneratedRegex(@"\((\d+):(\d+)\)")]
    private static partial Regex PositionPattern();
}
