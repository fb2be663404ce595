using AgentFlow.Definitions;
using Fluid;

namespace AgentFlow.Templates;

/// <summary>
/// A Liquid condition (<c>when</c>, <c>until</c>): the expression one would write in <c>{% if … %}</c>, evaluated
/// by Fluid itself so every Liquid operator and filter works and no expression parser of our own exists.
/// </summary>
public sealed class LiquidCondition
{
    private readonly IFluidTemplate _template;

    private LiquidCondition(IFluidTemplate template) => _template = template;

    /// <summary>Wraps a condition as the template Fluid evaluates.</summary>
    internal static string AsTemplate(string condition) => Prefix + condition + " %}1{% endif %}";

    /// <summary>What precedes the condition in <see cref="AsTemplate"/> (error columns are shifted back by its length).</summary>
    internal const string Prefix = "{% if ";

    /// <summary>Compiles <paramref name="text"/>.</summary>
    /// <exception cref="DefinitionException">The condition is not valid; the diagnostic says where.</exception>
    public static LiquidCondition Compile(TemplateText text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new LiquidCondition(LiquidEngine.ParseOrThrow(text, "condition", AsTemplate(text.Text), Prefix.Length));
    }

    /// <summary>True when the condition holds for the values of <paramref name="scope"/>.</summary>
    public async ValueTask<bool> EvaluateAsync(TemplateScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await _template.RenderAsync(scope.CreateContext(), NullEncoder.Default, isolateContext: false).ConfigureAwait(false);
        return result == "1";
    }
}
