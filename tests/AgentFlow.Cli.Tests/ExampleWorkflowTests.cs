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

        var result = await CliProcess.RunAsync(CliProcess.RepoRoot, fixture.Environment, ["run", path, "--json", .. inputs]);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("succeeded", json.RootElement.GetProperty("status").GetString());
    }

    private static IEnumerable<string> RequiredInputs(string path)
    {
        var definition = Definitions.WorkflowLoader.Load(path).GetDefinitionOrThrow();
        return definition.Inputs.Where(i => i.Required && i.Default is null).Select(i => i.Name);
    }
}
