using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using Fluid;

namespace AgentFlow.Templates;

/// <summary>
/// A Liquid condition (<c>when</c>, <c>until</c>): the expression one would write in <c>{% if … %}</c>, evaluated
/// by Fluid itself (as <c>{% if CONDITION %}1{% endif %}</c>) so every Liquid operator and filter works and no
/// expression parser of our own exists. Compiled once; <see cref="EvaluateAsync"/> may run concurrently.
/// </summary>
public sealed class LiquidCondition
{
    /// <summary>What precedes the condition in <see cref="AsTemplate"/> (error columns are shifted back by its length).</summary>
    internal const string Prefix = "{% if ";

    private const string Suffix = " %}1{% endif %}";

    private readonly IFluidTemplate _template;

    private LiquidCondition(IFluidTemplate template) => _template = template;

    /// <summary>Wraps a condition as the template Fluid evaluates.</summary>
    internal static string AsTemplate(string condition) => Prefix + condition + Suffix;

    /// <summary>
    /// A condition may not contain tag or output delimiters: they would close the wrapping <c>{% if %}</c> and
    /// change what is evaluated. Returns the diagnostic when it does, else null.
    /// </summary>
    internal static Diagnostic? CheckDelimiters(TemplateText condition, string user)
    {
        // Inside a quoted string ('{{' or "%}") they are only text.
        var text = condition.Text;
        var quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote != '\0')
            {
                quote = c == quote ? '\0' : quote;
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (i + 1 < text.Length && text.AsSpan(i, 2) is "{{" or "}}" or "{%" or "%}")
            {
                return new Diagnostic(condition.LocationOf(i), "AF0302", $"the condition of {user} contains '{text.Substring(i, 2)}'",
                    "a condition is an expression, as inside {% if … %}: write steps.a.output contains 'x' without braces");
            }
        }

        return null;
    }

    /// <summary>Compiles <paramref name="text"/>.</summary>
    /// <exception cref="DefinitionException">The condition is not valid; the diagnostic says where.</exception>
    public static LiquidCondition Compile(TemplateText text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (CheckDelimiters(text, "this step") is { } diagnostic)
        {
            throw new DefinitionException([diagnostic]);
        }

        return new LiquidCondition(LiquidEngine.ParseOrThrow(text, "condition", AsTemplate(text.Text), Prefix.Length));
    }

    /// <summary>True when the condition holds for the values of <paramref name="scope"/> (Liquid truthiness: only false and nil are false).</summary>
    public async ValueTask<bool> EvaluateAsync(TemplateScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await _template.RenderAsync(scope.CreateContext(), NullEncoder.Default, isolateContext: false).ConfigureAwait(false);
        return result == "1";
    }
}
