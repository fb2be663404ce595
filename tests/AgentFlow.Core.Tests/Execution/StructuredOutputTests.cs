using AgentFlow.Definitions;
using AgentFlow.Execution;

namespace AgentFlow.Core.Tests.Execution;

public sealed class StructuredOutputTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const string Workflow = """
        name: extract
        version: 1
        inputs: { ticket: { default: "I was charged twice" } }
        models: { w: tiny }
        steps:
          - id: extract
            agent:
              model: w
              prompt: "Classify: {{ inputs.ticket }}"
              temperature: 1
              seed: SEED
              output:
                schema:
                  type: object
                  properties:
                    category: { enum: [billing] }
                    summary: { type: string, maxLength: 30 }
                    urgent: { type: boolean }
                  required: [category, summary, urgent]
          - id: route
            switch:
              cases:
                - when: "steps.extract.output.category == 'billing'"
                  steps: [ { id: billing_reply, agent: { model: w, prompt: "Billing: {{ steps.extract.output.summary }}", max_tokens: 4 } } ]
              default:
                steps: [ { id: other_reply, agent: { model: w, prompt: "Other", max_tokens: 4 } } ]
        outputs:
          category: "{{ steps.extract.output.category }}"
          whole: "{{ steps.extract.output }}"
        """;

    [Fact]
    public async Task RunAsync_StructuredOutputOnTinyModel20Seeds_ValidJsonFieldsReadBySwitchAndOutputs()
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            var record = await fixture.RunAsync(Workflow.Replace("SEED", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

            Assert.Equal(RunStatus.Succeeded, record.Status);
            Assert.Equal(["extract", "route", "billing_reply"], record.Steps.Select(s => s.Id));
            Assert.Equal("billing", record.Outputs["category"]);
            Assert.Equal(record.Steps[0].Output, record.Outputs["whole"]);
            using var answer = System.Text.Json.JsonDocument.Parse(record.Steps[0].Output!);
            Assert.Contains(answer.RootElement.GetProperty("summary").GetString()!, record.Steps[2].Prompt!, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task RunAsync_TicketExtractExample_RoutesOnTheExtractedCategory()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "AgentFlow.slnx")))
        {
            root = Path.GetDirectoryName(root)!;
        }

        var yaml = await File.ReadAllTextAsync(Path.Combine(root, "workflows", "ticket-extract.yaml"));

        var record = await fixture.RunAsync(yaml, new Dictionary<string, string> { ["ticket"] = "I was charged twice" });

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var category = record.Outputs["category"];
        Assert.True(category is "billing" or "bug" or "other", category);
        var taken = category switch { "billing" => "billing_reply", "bug" => "bug_reply", _ => "general_reply" };
        Assert.Equal(["extract", "route", taken], record.Steps.Select(s => s.Id));
    }

    [Theory]
    [InlineData("""{"category":"bug"}""", "does not match the output schema")]
    [InlineData("""{"category":"billing""", "not JSON")]
    public void Check_InvalidAnswer_ThrowsWithTheReason(string answer, string reason)
    {
        var output = new StructuredOutput(
            new StructuredOutputDefinition("""{"type":"object","properties":{"category":{"enum":["billing"]}},"required":["category"]}""", ["category"], default!), "extract");

        var error = Assert.Throws<StructuredOutputException>(() => output.Check(answer));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SchemaProblems_LocatedErrorsAndWarnings()
    {
        var result = WorkflowLoader.Parse("""
            name: bad
            version: 1
            models: { w: tiny }
            steps:
              - id: a
                agent: { model: w, prompt: "x", output: { schema: { type: 12 } } }
              - id: b
                agent:
                  model: w
                  prompt: "x"
                  output:
                    schema:
                      type: object
                      properties:
                        n: { type: integer, maximum: 3 }
              - id: c
                agent: { model: w, prompt: "{{ steps.b.output.m }}", output: { schema: [1] } }
            """, "bad.yaml");

        var found = result.Diagnostics.Select(d => (d.Location.Line, d.Code)).ToList();
        Assert.Contains((6, "AF0451"), found);
        Assert.Contains((15, "AF0452"), found);
        Assert.Contains((17, "AF0207"), found);
        Assert.Contains((17, "AF0450"), found);
    }
}
