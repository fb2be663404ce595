using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Execution;
using AgentFlow.Templates;

namespace AgentFlow.Core.Tests.Templates;

public sealed class LiquidTemplateTests
{
    private static readonly SourceLocation At = new("test.yaml", 3, 5);

    private static TemplateScope Scope(
        Dictionary<string, object?>? inputs = null, Dictionary<string, StepOutput>? steps = null, int? iteration = null) =>
        new(inputs ?? [], steps ?? [], iteration);

    private static ValueTask<string> Render(string template, TemplateScope scope) =>
        LiquidTemplate.Compile(new TemplateText(template, At)).RenderAsync(scope, CancellationToken.None);

    [Fact]
    public async Task RenderAsync_InputsStepsAndIteration_AreSubstituted()
    {
        var scope = Scope(
            new() { ["ticket"] = "refund please", ["count"] = 3L, ["urgent"] = true },
            new() { ["classify"] = StepOutput.OfText("billing") },
            iteration: 2);

        var text = await Render("{{ inputs.ticket | upcase }} x{{ inputs.count }} {{ inputs.urgent }} [{{ steps.classify.output }}] #{{ loop.iteration }}", scope);

        Assert.Equal("REFUND PLEASE x3 true [billing] #2", text);
    }

    [Fact]
    public async Task RenderAsync_ValueWithTemplateSyntax_IsInsertedLiterallyNeverEvaluated()
    {
        const string Injection = "{{ steps.secret.output }}{% raw %}{% endraw %}{% if true %}X{% endif %}<b>&";
        var scope = Scope(
            new() { ["ticket"] = Injection },
            new() { ["secret"] = StepOutput.OfText("TOP-SECRET"), ["echo"] = StepOutput.OfText(Injection) });

        var text = await Render("A={{ inputs.ticket }} B={{ steps.echo.output }}", scope);

        Assert.Equal($"A={Injection} B={Injection}", text);
        Assert.DoesNotContain("TOP-SECRET", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenderAsync_ParallelOutput_ReadsBranchesAndPrintsJson()
    {
        var research = StepOutput.OfBranches([KeyValuePair.Create("pros", StepOutput.OfText("cheap <fast>")), KeyValuePair.Create("cons", StepOutput.OfText("\"slow\""))]);
        var scope = Scope(steps: new() { ["research"] = research });

        var text = await Render("{{ steps.research.output.pros }}|{{ steps.research.output }}", scope);

        Assert.Equal("cheap <fast>|{\"pros\":\"cheap <fast>\",\"cons\":\"\\\"slow\\\"\"}", text);
    }

    [Fact]
    public async Task RenderAsync_MissingStepOutput_RendersEmpty()
    {
        Assert.Equal("[]", await Render("[{{ steps.later.output }}]", Scope()));
    }

    [Fact]
    public async Task RenderAsync_HugeLoop_StopsAtTheStepLimit()
    {
        await Assert.ThrowsAnyAsync<InvalidOperationException>(async () => await Render("{% for i in (1..10000000) %}x{% endfor %}", Scope()));
    }

    [Theory]
    [InlineData("steps.classify.output contains 'bill'", true)]
    [InlineData("steps.classify.output == 'billing'", true)]
    [InlineData("steps.classify.output contains 'bug'", false)]
    [InlineData("loop.iteration >= 2 and inputs.urgent", true)]
    [InlineData("steps.missing.output contains 'x'", false)]
    public async Task EvaluateAsync_Condition_FollowsLiquidSemantics(string condition, bool expected)
    {
        var scope = Scope(new() { ["urgent"] = true }, new() { ["classify"] = StepOutput.OfText("billing") }, iteration: 2);

        var result = await LiquidCondition.Compile(new TemplateText(condition, At)).EvaluateAsync(scope, CancellationToken.None);

        Assert.Equal(expected, result);
    }

    [Fact]
    public void Compile_InvalidTemplate_ThrowsLocatedDiagnostic()
    {
        var ex = Assert.Throws<DefinitionException>(() => LiquidTemplate.Compile(new TemplateText("ok {% if x %}", At)));

        var diagnostic = Assert.Single(ex.Diagnostics);
        Assert.Equal("AF0301", diagnostic.Code);
        Assert.Equal(3, diagnostic.Location.Line);
    }
}
