using System.Text.Json;

namespace AgentFlow.Cli.Tests;

public sealed class ExampleWorkflowTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    public static TheoryData<string> Examples() =>
        [.. Directory.GetFiles(Path.Combine(CliProcess.RepoRoot, "workflows"), "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Validate_EveryExampleWorkflow_Succeeds()
    {
        var files = Directory.GetFiles(Path.Combine(CliProcess.RepoRoot, "workflows"), "*.yaml");
        Assert.True(files.Length >= 3, "workflows/ should hold at least three examples");

        var result = await CliProcess.RunAsync(CliProcess.RepoRoot, fixture.Environment, ["validate", .. files]);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task Run_ExampleWorkflow_SucceedsOnTheBuiltInModel(string name)
    {
        var path = Path.Combine(CliProcess.RepoRoot, "workflows", name);
        var inputs = RequiredInputs(path).SelectMany(i => new[] { "--input", $"{i}=example value" });
        foreach (var collection in Collections(path))
        {
            // A workflow that retrieves searches the project's own knowledge base, indexed first as the README shows.
            var index = await CliProcess.RunAsync(fixture.Root, fixture.Environment, ["index", Path.Combine(CliProcess.RepoRoot, "examples", "kb"), "--collection", collection]);
            Assert.True(index.ExitCode == 0, index.ToString());
        }


        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, ["run", path, "--json", .. inputs]);

        // A workflow with approvals parks (exit 3); approving each waiting step from another process finishes it.
        for (var decisions = 0; result.ExitCode == 3 && decisions < 5; decisions++)
        {
            using var parked = JsonDocument.Parse(result.Stdout);
            Assert.Equal("waiting", parked.RootElement.GetProperty("status").GetString());
            var runId = parked.RootElement.GetProperty("run_id").GetString()!;
            var step = parked.RootElement.GetProperty("waiting").GetProperty("step").GetString()!;
            result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "approve", runId, step, "--json", "--as", "example-test");
        }

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("succeeded", json.RootElement.GetProperty("status").GetString());
    }

    private static IEnumerable<string> Collections(string path) =>
        Definitions.WorkflowLoader.Load(path).GetDefinitionOrThrow().AllSteps().OfType<Definitions.RetrieveStepDefinition>().Select(s => s.Collection).Distinct(StringComparer.Ordinal);

    private static IEnumerable<string> RequiredInputs(string path)
    {
        var definition = Definitions.WorkflowLoader.Load(path).GetDefinitionOrThrow();
        return definition.Inputs.Where(i => i.Required && i.Default is null).Select(i => i.Name);
    }
}
