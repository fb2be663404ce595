using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution;

namespace AgentFlow.Cli.Tests;

/// <summary>Weighted split bindings in production runs, and the live-variant report over them.</summary>
public sealed class SplitBindingTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Workflow = """
        name: split-demo
        version: 1
        inputs:
          customer_id: { required: true }
        models:
          writer: { tiny: 80, tiny2: 20 }
        split_key: "{{ inputs.customer_id }}"
        steps:
          - id: answer
            agent: { model: writer, prompt: "Help customer {{ inputs.customer_id }}.", max_tokens: 6, temperature: 0 }
        outputs:
          text: "{{ steps.answer.output }}"
        """;

    [Fact]
    public async Task Run_SplitBinding_SameCustomerSameModelTaggedAndReportComparesLiveVariants()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "split-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var file = Path.Combine(folder, "split.yaml");
        await File.WriteAllTextAsync(file, Workflow);
        ModelWeight[] weights = [new("tiny", 80), new("tiny2", 20)];
        var candidates = Enumerable.Range(1, 100).Select(i => $"customer-{i}").ToList();
        var customers = candidates.Where(c => SplitAssignment.Pick(weights, "writer", c) == "tiny").Take(2)
            .Concat(candidates.Where(c => SplitAssignment.Pick(weights, "writer", c) == "tiny2").Take(2)).ToList();

        foreach (var customer in customers.Concat(customers))
        {
            var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", file, "-i", $"customer_id={customer}", "--json");
            Assert.True(run.ExitCode == 0, run.ToString());
            var result = JsonNode.Parse(run.Stdout)!;
            var expected = SplitAssignment.Pick(weights, "writer", customer);
            Assert.Equal(expected, result["steps"]![0]!["model"]!.GetValue<string>());
            var export = JsonNode.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", result["run_id"]!.GetValue<string>())).Stdout)!;
            Assert.Equal($"writer={expected}", export["tags"]!["agentflow.variant"]!.GetValue<string>());
            Assert.Equal(expected, export["tags"]!["agentflow.split.writer"]!.GetValue<string>());
        }

        var explicitBind = await CliProcess.RunAsync(folder, fixture.Environment, "run", file, "-i", $"customer_id={customers[0]}", "--bind", "writer=tiny2", "--json", "--no-record");
        Assert.Equal("tiny2", JsonNode.Parse(explicitBind.Stdout)!["steps"]![0]!["model"]!.GetValue<string>());

        var report = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "report", "--workflow", "split-demo", "--since", "1d", "--json");
        Assert.True(report.ExitCode == 0, report.ToString());
        var doc = JsonNode.Parse(report.Stdout)!;
        Assert.Equal(4, doc["variants"]!["writer=tiny"]!.GetValue<int>());
        Assert.Equal(4, doc["variants"]!["writer=tiny2"]!.GetValue<int>());
        Assert.False(doc["comparison"]!["paired"]!.GetValue<bool>());
        var success = doc["comparison"]!["rows"]![0]!;
        Assert.Equal("success_rate", success["name"]!.GetValue<string>());
        Assert.Equal(0.0, success["differences"]!["writer=tiny2"]!["value"]!.GetValue<double>());
    }
}
