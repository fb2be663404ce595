using System.Text;
using System.Text.Json;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Templates;

namespace AgentFlow.Core.Tests.Definitions;

/// <summary>Hostile sizes end in a located error: before these limits each case below killed the process or overflowed.</summary>
public sealed class WorkflowLimitsTests
{
    private static string Repeat(string text, int count) => string.Concat(Enumerable.Repeat(text, count));

    // Each is under the template size limit and overflowed the stack of a thread-pool thread before the guard.
    public static TheoryData<string, string> Bombs() => new()
    {
        { "if", Repeat("{% if inputs.a %}", 2000) + Repeat("{% endif %}", 2000) },
        { "for", Repeat("{% for x in inputs.a %}", 1500) + Repeat("{% endfor %}", 1500) },
        { "indexer", "{{ " + Repeat("inputs[", 5000) + "1" + new string(']', 5000) + " }}" },
        { "parentheses", "{{ " + new string('(', 30000) + "1" + new string(')', 30000) + " }}" },
        { "filters", "{{ inputs.a" + Repeat(" | upcase", 7000) + " }}" },
        { "operators", "{% if inputs.a" + Repeat(" and inputs.a", 5000) + " %}x{% endif %}" },
        { "liquid tag", "{% liquid\n" + Repeat("if inputs.a\n", 3000) + Repeat("endif\n", 3000) + "%}" },
        { "end tags in comments", Repeat("{% if inputs.a %}{% comment %}{% endif %}{% endcomment %}", 1000) },
        { "end tags in strings", Repeat("{% if inputs.a %}{{ \"{% endif %}\" }}", 1700) },
    };

    private static string Workflow(string prompt) => $"""
        name: bomb
        version: 1
        inputs: {"{"} a: {"{"}{"}"} {"}"}
        models: {"{"} m: tiny {"}"}
        steps:
          - id: s
            agent:
              model: m
              prompt: {JsonSerializer.Serialize(prompt)}
        """;

    [Theory]
    [MemberData(nameof(Bombs))]
    public void Parse_NestingBombInTemplate_ReportsAF0130InsideTheTemplate(string kind, string template)
    {
        Assert.True(template.Length <= WorkflowLimits.MaxTemplateLength, kind);

        var result = WorkflowLoader.Parse(Workflow(template), "bomb.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("AF0130", diagnostic.Code);
        Assert.Equal(9, diagnostic.Location.Line);
        Assert.True(diagnostic.Location.Column > 13, diagnostic.ToString());
        Assert.Null(result.Definition);
    }

    [Theory]
    [MemberData(nameof(Bombs))]
    public void Compile_NestingBomb_ThrowsDefinitionExceptionWithAF0130(string kind, string template)
    {
        var thrown = Assert.Throws<DefinitionException>(() => LiquidTemplate.Compile(new TemplateText(template, new SourceLocation("t.yaml", 1, 1))));

        Assert.Equal("AF0130", Assert.Single(thrown.Diagnostics).Code);
        Assert.NotEmpty(kind);
    }

    [Fact]
    public void Parse_NestingBombInCondition_ReportsAF0130()
    {
        var yaml = Workflow("hi").Replace("  - id: s\n", $"  - id: r\n    loop: {{ max_iterations: 2, until: {JsonSerializer.Serialize(Repeat("(", 200) + "true")}, steps: [ {{ id: t, agent: {{ model: m, prompt: x }} }} ] }}\n  - id: s\n", StringComparison.Ordinal);

        var result = WorkflowLoader.Parse(yaml, "bomb.yaml");

        Assert.Contains(result.Diagnostics, d => d.Code == "AF0130" && d.Message.Contains("condition nests", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_TemplateOverTheSizeLimit_ReportsAF0130AtItsStart()
    {
        var result = WorkflowLoader.Parse(Workflow(new string('x', WorkflowLimits.MaxTemplateLength + 1)), "big.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("AF0130", 9, 16), (diagnostic.Code, diagnostic.Location.Line, diagnostic.Location.Column));
        Assert.Contains("65537 characters long", diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a deep {{ inputs.a | upcase | downcase }} [x] ((y))")]
    [InlineData("{% raw %}{% if %}{% if %}((((({% endraw %}{{ inputs.a }}")]
    [InlineData("{% comment %}{{ 'unclosed {% endcomment %}{% if inputs.a %}1{% endif %}")]
    [InlineData("{{ '}}((' }} {{ \"it's\" }} {% # a note with a \" quote %}")]
    public void Parse_OrdinaryTemplates_PassTheGuard(string template)
    {
        var result = WorkflowLoader.Parse(Workflow(template), "ok.yaml");

        Assert.DoesNotContain(result.Diagnostics, d => d.Code == "AF0130");
    }

    [Fact]
    public void Parse_SixtyFourLevels_AreAllowed()
    {
        var template = Repeat("{% if inputs.a %}", 32) + "{{ " + Repeat("inputs[", 31) + "'a'" + new string(']', 31) + " }}" + Repeat("{% endif %}", 32);

        var result = WorkflowLoader.Parse(Workflow(template), "ok.yaml");

        Assert.DoesNotContain(result.Diagnostics, d => d.Code == "AF0130");
    }

    [Fact]
    public void Parse_TextOverOneMebibyte_ReportsAF0131()
    {
        var result = WorkflowLoader.Parse(Workflow("hi") + "# " + new string('é', WorkflowLimits.MaxFileBytes / 2), "big.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("AF0131", 1, 1), (diagnostic.Code, diagnostic.Location.Line, diagnostic.Location.Column));
    }

    [Fact]
    public void Load_FileOverOneMebibyte_ReportsAF0131WithoutParsing()
    {
        var path = Path.Combine(Path.GetTempPath(), $"agentflow-big-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "name: [" + new string('[', WorkflowLimits.MaxFileBytes));
        try
        {
            var diagnostic = Assert.Single(WorkflowLoader.Load(path).Diagnostics);
            Assert.Equal("AF0131", diagnostic.Code);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Parse_MoreStepsThanTheLimit_ReportsAF0132OnceAtTheFirstStepTooMany()
    {
        var yaml = new StringBuilder("name: many\nversion: 1\nmodels: { m: tiny }\nsteps:\n");
        for (var i = 0; i < WorkflowLimits.MaxSteps + 50; i++)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"  - {{ id: s{i}, agent: {{ model: m, prompt: hi }} }}\n");
        }

        var result = WorkflowLoader.Parse(yaml.ToString(), "many.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("AF0132", 5 + WorkflowLimits.MaxSteps, 5), (diagnostic.Code, diagnostic.Location.Line, diagnostic.Location.Column));
    }

    [Fact]
    public void Parse_ThousandsOfUnknownReferences_ReportsEachWithoutAnInternalError()
    {
        var yaml = new StringBuilder("name: many\nversion: 1\nmodels: { m: tiny }\nsteps:\n");
        for (var i = 0; i < WorkflowLimits.MaxSteps; i++)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"  - {{ id: step_{i}, agent: {{ model: m, prompt: \"{{{{ steps.stap_{i}.output }}}}\" }} }}\n");
        }

        var result = WorkflowLoader.Parse(yaml.ToString(), "many.yaml");

        Assert.Equal(WorkflowLimits.MaxSteps, result.Diagnostics.Count(d => d.Code == "AF0205"));
        Assert.Contains("did you mean 'step_1'", result.Diagnostics.First(d => d.Code == "AF0205" && d.Message.Contains("'stap_1'", StringComparison.Ordinal)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SplitWeightsSummingPastIntMax_IsAccepted()
    {
        var weights = string.Join(", ", Enumerable.Range(0, 2200).Select(i => $"t{i}: 1000000"));
        var yaml = $"name: split\nversion: 1\nmodels:\n  w: {{ {weights} }}\nsteps:\n  - {{ id: a, agent: {{ model: w, prompt: hi }} }}\n";

        var result = WorkflowLoader.Parse(yaml, "split.yaml");

        Assert.DoesNotContain(result.Diagnostics, d => d.Code == "AF0199");
        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
    }

    [Theory]
    [InlineData("1e300s")]
    [InlineData("99999999999999d")]
    [InlineData("1e15ms")]
    [InlineData("1e400s")]
    public void DurationText_TryParse_HugeValueSaturates(string text)
    {
        Assert.True(DurationText.TryParse(text, out var value));
        Assert.Equal(TimeSpan.MaxValue, value);
        Assert.False(DurationText.TryParse(text, TimeSpan.Zero, WorkflowLimits.MaxDuration, out _));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("-1s")]
    [InlineData("5x")]
    [InlineData("")]
    public void DurationText_TryParse_NotADuration_ReturnsFalse(string text) =>
        Assert.False(DurationText.TryParse(text, out _));

    [Fact]
    public void DurationText_Format_WritesTheLargestWholeUnit() =>
        Assert.Equal(["10ms", "1s", "5m", "2h", "366d", "1.5ms"], new[] { TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), TimeSpan.FromHours(2), TimeSpan.FromDays(366), TimeSpan.FromMicroseconds(1500) }.Select(DurationText.Format));
}
