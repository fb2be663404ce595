using AgentFlow.Definitions;
using Fluid;

namespace AgentFlow.Templates;

/// <summary>A compiled Liquid template (a prompt, a system message or an output), parsed once, rendered per step.</summary>
public sealed class LiquidTemplate
{
    private readonly IFluidTemplate _template;

    private LiquidTemplate(IFluidTemplate template) => _template = template;

    /// <summary>Compiles <paramref name="text"/>.</summary>
    /// <exception cref="DefinitionException">The text is not valid Liquid; the diagnostic says where.</exception>
    public static LiquidTemplate Compile(TemplateText text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new LiquidTemplate(LiquidEngine.ParseOrThrow(text, "template", text.Text, prefixLength: 0));
    }

    /// <summary>Renders with the values of <paramref name="scope"/>, without any HTML encoding.</summary>
    public async ValueTask<string> RenderAsync(TemplateScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        cancellationToken.ThrowIfCancellationRequested();
        return await _template.RenderAsync(scope.CreateContext(), NullEncoder.Default, isolateContext: false).ConfigureAwait(false);
    }
}
