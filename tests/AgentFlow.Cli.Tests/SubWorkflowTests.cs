using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>A workflow step runs its child as a run of its own, recorded in MLflow and linked both ways, on the tiny model.</summary>
public sealed class SubWorkflowTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task Run_TriageWithSummary_RecordsParentAndChildLinkedBothWaysAndReadsTheChildsOutputs()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "subwf-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var parentFile = Path.Combine(CliProcess.RepoRoot, "workflows", "triage-with-summary.yaml");

        var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", parentFile, "--input", "ticket=I was charged twice for ORD-7", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var result = JsonDocument.Parse(run.Stdout).RootElement;
        var parentId = result.GetProperty("run_id").GetString()!;
        var step = result.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "summarize");
        Assert.Equal("workflow", step.GetProperty("kind").GetString());
        var childId = step.GetProperty("child_run").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", childId);
        Assert.Contains($"> summarize [workflow] child run {childId}", run.Stderr, StringComparison.Ordinal);

        var parent = JsonDocument.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", parentId)).Stdout).RootElement;
        var child = JsonDocument.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", childId)).Stdout).RootElement;
        Assert.Equal(childId, parent.GetProperty("tags").GetProperty("agentflow.child_runs").GetString());
        Assert.Equal(parentId, child.GetProperty("tags").GetProperty("agentflow.parent_run").GetString());
        Assert.Equal("summarize", child.GetProperty("tags").GetProperty("agentflow.workflow").GetString());
        Assert.Equal(parentId, child.GetProperty("transcript").GetProperty("parent_run").GetString());
        Assert.Equal(childId, parent.GetProperty("transcript").GetProperty("steps")[0].GetProperty("child_run").GetString());

        // The parent read the child's outputs: its own outputs are the child's, field by field.
        var childOutputs = child.GetProperty("transcript").GetProperty("outputs");
        var outputs = result.GetProperty("outputs");
        Assert.Equal(childOutputs.GetProperty("summary").GetString(), outputs.GetProperty("summary").GetString());
        Assert.Equal(childOutputs.GetProperty("headline").GetString(), outputs.GetProperty("headline").GetString());
        Assert.Equal("billing team", child.GetProperty("transcript").GetProperty("inputs").GetProperty("audience").GetString());

        // Each has its own sealed record; runs show names the child under its step, and the parent on the child.
        var verified = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", childId);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        var shown = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "show", parentId);
        Assert.Contains($"child run: {childId}", shown.Stdout, StringComparison.Ordinal);
        var shownChild = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "show", childId);
        Assert.Contains($"parent run: {parentId}", shownChild.Stdout, StringComparison.Ordinal);

        // A replay from the step after it reuses the workflow step's recorded outputs: no new child run.
        var replay = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "replay", parentId, "--from", "route", "--json");
        Assert.True(replay.ExitCode == 0, replay.ToString());
        var replayed = JsonDocument.Parse(replay.Stdout).RootElement;
        Assert.Contains("summarize", replayed.GetProperty("reused_steps").EnumerateArray().Select(e => e.GetString()));
        var again = replayed.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "summarize");
        Assert.Equal(JsonValueKind.Null, again.GetProperty("child_run").ValueKind);
        Assert.Equal(outputs.GetProperty("summary").GetString(), replayed.GetProperty("outputs").GetProperty("summary").GetString());
    }

    [Fact]
    public async Task Validate_WorkflowStepThatReachesItself_ReportsALocatedErrorAndRunRefuses()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "cycle-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var self = Path.Combine(folder, "self.yaml");
        await File.WriteAllTextAsync(self, """
            name: self
            version: 1
            steps:
              - id: again
                workflow: { file: self.yaml }
            """);

        var validate = await CliProcess.RunAsync(folder, fixture.Environment, "validate", self);
        var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", self);

        Assert.Equal(2, validate.ExitCode);
        Assert.Contains($"{self}:5:23: error AF0601: step 'again' runs a workflow that leads back to one already running: self.yaml -> self.yaml", validate.Stdout + validate.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, run.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(folder, ".agentflow")) && Directory.GetFiles(Path.Combine(folder, ".agentflow"), "transcript.json", SearchOption.AllDirectories).Length > 0, "a refused run records nothing");
    }
}
