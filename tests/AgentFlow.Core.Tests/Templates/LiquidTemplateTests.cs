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

    private static ValueTask<bool> Evaluate(string condition, TemplateScope scope) =>
        LiquidCondition.Compile(new TemplateText(condition, At)).EvaluateAsync(scope, CancellationToken.None);

    [Fact]
    public async Task RenderAsync_InputsStepsAndIteration_AreSubstituted()
    {
        var scope = Scope(
            new() { ["ticket"] = "refund please", ["count"] = 3L, ["urgent"] = true, ["ratio"] = 0.25 },
            new() { ["classify"] = StepOutput.OfText("billing") },
            iteration: 2);

        var text = await Render("{{ inputs.ticket | upcase }} x{{ inputs.count | plus: 1 }} {{ inputs.urgent }} {{ inputs.ratio }} [{{ steps.classify.output }}] #{{ loop.iteration }}", scope);

        Assert.Equal("REFUND PLEASE x4 true 0.25 [billing] #2", text);
    }

    [Fact]
    public async Task RenderAsync_OutsideALoop_LoopIsNil()
    {
        Assert.Equal("[]", await Render("[{{ loop.iteration }}]", Scope()));
    }

    [Fact]
    public async Task RenderAsync_ValueWithTemplateSyntax_IsInsertedLiterallyNeverEvaluated()
    {
        const string Injection = "{{ steps.secret.output }}{% raw %}{% endraw %}{% if true %}X{% endif %}{% include 'x' %}<b>&'\"";
        var scope = Scope(
            new() { ["ticket"] = Injection },
            new() { ["secret"] = StepOutput.OfText("TOP-SECRET"), ["echo"] = StepOutput.OfText(Injection) });

        var text = await Render("A={{ inputs.ticket }} B={{ steps.echo.output }} C={{ inputs.ticket | strip | append: '!' }}", scope);

        Assert.Equal($"A={Injection} B={Injection} C={Injection}!", text);
        Assert.DoesNotContain("TOP-SECRET", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvaluateAsync_ValueWithTemplateSyntax_IsComparedAsTextNeverEvaluated()
    {
        var scope = Scope(new() { ["ticket"] = "{{ 'APPROVED' }}" });

        Assert.False(await Evaluate("inputs.ticket == 'APPROVED'", scope));
        Assert.True(await Evaluate("inputs.ticket contains '{{' and inputs.ticket contains \"}}\"", scope));
        Assert.False(await Evaluate("inputs.ticket contains '%}'", scope));
    }

    [Fact]
    public async Task RenderAsync_HtmlCharacters_AreNotEncoded()
    {
        var scope = Scope(new() { ["code"] = "if (a < b && c > d) { return \"x\"; } // it's" });

        Assert.Equal("if (a < b && c > d) { return \"x\"; } // it's", await Render("{{ inputs.code }}", scope));
    }

    [Fact]
    public async Task RenderAsync_ParallelOutput_ReadsBranchesAndPrintsJson()
    {
        var research = StepOutput.OfBranches([KeyValuePair.Create("pros", StepOutput.OfText("cheap <fast>")), KeyValuePair.Create("cons", StepOutput.OfText("\"slow\""))]);
        var scope = Scope(steps: new() { ["research"] = research });

        var text = await Render("{{ steps.research.output.pros }}|{{ steps.research.output['cons'] }}|{{ steps.research.output }}", scope);

        Assert.Equal("cheap <fast>|\"slow\"|{\"pros\":\"cheap <fast>\",\"cons\":\"\\\"slow\\\"\"}", text);
    }

    [Fact]
    public async Task RenderAsync_NestedParallelOutput_ReadsInnerBranches()
    {
        var inner = StepOutput.OfBranches([KeyValuePair.Create("a", StepOutput.OfText("1")), KeyValuePair.Create("b", StepOutput.OfText("2"))]);
        var outer = StepOutput.OfBranches([KeyValuePair.Create("inner", inner), KeyValuePair.Create("c", StepOutput.OfText("3"))]);

        var text = await Render("{{ steps.p.output.inner.b }} {{ steps.p.output }}", Scope(steps: new() { ["p"] = outer }));

        Assert.Equal("2 {\"inner\":{\"a\":\"1\",\"b\":\"2\"},\"c\":\"3\"}", text);
    }

    [Fact]
    public async Task RenderAsync_MissingStepOutput_RendersEmpty()
    {
        Assert.Equal("[]", await Render("[{{ steps.later.output }}]", Scope()));
    }

    [Fact]
    public async Task RenderAsync_ClrObjectInput_ShowsTextNeverMembers()
    {
        var scope = Scope(new() { ["file"] = new FileInfo("/etc/hostname"), ["big"] = 1e300 });

        var text = await Render("[{{ inputs.file.FullName }}][{{ inputs.file.Directory }}][{{ inputs.big }}]", scope);

        Assert.Equal("[][][1E+300]", text);
    }

    [Fact]
    public async Task RenderAsync_HugeLoop_StopsAtTheStepLimit()
    {
        await Assert.ThrowsAnyAsync<InvalidOperationException>(async () => await Render("{% for i in (1..10000000) %}x{% endfor %}", Scope()));
    }

    [Fact]
    public async Task RenderAsync_SameTemplateFromManyThreads_EachGetsItsOwnValues()
    {
        var template = LiquidTemplate.Compile(new TemplateText("{{ inputs.n }}-{{ steps.s.output }}-{{ loop.iteration }}", At));

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            await template.RenderAsync(Scope(new() { ["n"] = (long)i }, new() { ["s"] = StepOutput.OfText($"s{i}") }, i), CancellationToken.None))));

        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"{i}-s{i}-{i}"), results);
    }

    [Fact]
    public async Task RenderAsync_CancelledToken_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await LiquidTemplate.Compile(new TemplateText("x", At)).RenderAsync(Scope(), cts.Token));
    }

    [Theory]
    [InlineData("steps.classify.output contains 'bill'", true)]
    [InlineData("steps.classify.output == 'billing'", true)]
    [InlineData("steps.classify.output contains 'bug'", false)]
    [InlineData("loop.iteration >= 2 and inputs.urgent", true)]
    [InlineData("loop.iteration > 2 or inputs.urgent == false", false)]
    [InlineData("steps.missing.output contains 'x'", false)]
    [InlineData("steps.missing.output == nil", true)]
    [InlineData("steps.research.output.pros contains 'cheap'", true)]
    [InlineData("steps.research.output contains 'cons'", true)]
    [InlineData("steps.classify.output != 'bug' and steps.classify.output.size == 7", true)]
    public async Task EvaluateAsync_Condition_FollowsLiquidSemantics(string condition, bool expected)
    {
        var research = StepOutput.OfBranches([KeyValuePair.Create("pros", StepOutput.OfText("cheap")), KeyValuePair.Create("cons", StepOutput.OfText("slow"))]);
        var scope = Scope(new() { ["urgent"] = true }, new() { ["classify"] = StepOutput.OfText("billing"), ["research"] = research }, iteration: 2);

        Assert.Equal(expected, await Evaluate(condition, scope));
    }

    [Fact]
    public void Compile_InvalidTemplate_ThrowsDiagnosticAtFluidsColumn()
    {
        var ex = Assert.Throws<DefinitionException>(() => LiquidTemplate.Compile(new TemplateText("ok {{ a | }}", At)));

        var diagnostic = Assert.Single(ex.Diagnostics);
        Assert.Equal("AF0301", diagnostic.Code);
        Assert.StartsWith("invalid template: ", diagnostic.Message, StringComparison.Ordinal);
        Assert.Equal(At with { Column = At.Column + 9 }, diagnostic.Location);
    }

    [Fact]
    public void Compile_InvalidCondition_PointsInsideTheConditionNotTheWrapper()
    {
        var ex = Assert.Throws<DefinitionException>(() => LiquidCondition.Compile(new TemplateText("a ==", At)));

        var diagnostic = Assert.Single(ex.Diagnostics);
        Assert.Equal("AF0301", diagnostic.Code);
        Assert.StartsWith("invalid condition: ", diagnostic.Message, StringComparison.Ordinal);
        Assert.Equal(At.Line, diagnostic.Location.Line);
        Assert.InRange(diagnostic.Location.Column, At.Column, At.Column + 4);
    }

    [Theory]
    [InlineData("x %}{% if true")]
    [InlineData("{{ x }}")]
    [InlineData("x }}")]
    public void Compile_ConditionWithDelimiters_IsRefusedSoItCannotEscapeTheWrapper(string condition)
    {
        var ex = Assert.Throws<DefinitionException>(() => LiquidCondition.Compile(new TemplateText(condition, At)));

        Assert.Equal("AF0302", Assert.Single(ex.Diagnostics).Code);
    }
}
