using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using CheckpointInfo = Microsoft.Agents.AI.Workflows.CheckpointInfo;

namespace AgentFlow.Core.Tests.Execution.Durable;

/// <summary>The on-disk run store: appended saves and changes, torn lines, folding, and the checkpoint log.</summary>
public sealed class FileRunStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("agentflow-filerunstore-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static DurableRun NewRun(string id = "run1") => new()
    {
        RunId = id,
        WorkflowPath = "/tmp/w.yaml",
        DefinitionSha256 = new string('a', 64),
        Inputs = { ["topic"] = "tea" },
        Record = new RunRecord
        {
            RunId = id,
            Workflow = "w",
            WorkflowVersion = 1,
            DefinitionSha256 = new string('a', 64),
            Started = DateTimeOffset.UnixEpoch,
            Inputs = new Dictionary<string, JsonNode?>(),
            Bindings = new Dictionary<string, string>(),
            Models = new Dictionary<string, ModelInfo>(),
        },
    };

    private static StepRecord Step(string id) => new() { Id = id, Kind = "agent", Started = DateTimeOffset.UnixEpoch, Prompt = "p " + id };

    private string LogPath(string id = "run1") => Path.Combine(_root, id, "run.log");

    [Fact]
    public async Task SaveProgressAsync_StepsStartAndFinish_AnotherStoreLoadsTheLatestStateFromChanges()
    {
        await using var store = new FileRunStore(_root);
        var run = NewRun();
        await store.SaveAsync(run, CancellationToken.None);
        for (var i = 1; i <= 3; i++)
        {
            var step = Step("s" + i);
            run.Record.Steps.Add(step);
            await store.SaveProgressAsync(run, step, CancellationToken.None);
            step.Output = "out " + i;
            step.Status = StepStatus.Succeeded;
            await store.SaveProgressAsync(run, step, CancellationToken.None);
            run.CheckpointId = "cp" + i;
            run.CheckpointSteps = i;
            await store.SaveProgressAsync(run, changedStep: null, CancellationToken.None);
        }

        var running = Step("s4");
        run.Record.Steps.Add(running);
        await store.SaveProgressAsync(run, running, CancellationToken.None);

        // One whole state, then one short line per change: a save does not grow with the run.
        var lines = File.ReadAllLines(LogPath()).Where(l => l.Length > 0).ToList();
        Assert.Single(lines, l => !DurableRun.IsProgressJson(l));
        Assert.Equal(10, lines.Count(DurableRun.IsProgressJson));
        Assert.DoesNotContain("s1", lines[^1], StringComparison.Ordinal);

        var loaded = await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None);

        Assert.NotNull(loaded);
        Assert.Equal(["s1", "s2", "s3", "s4"], loaded.Record.Steps.Select(s => s.Id));
        Assert.Equal([StepStatus.Succeeded, StepStatus.Succeeded, StepStatus.Succeeded, StepStatus.Running], loaded.Record.Steps.Select(s => s.Status));
        Assert.Equal("out 2", loaded.Record.Steps[1].Output);
        Assert.Equal(("cp3", 3), (loaded.CheckpointId, loaded.CheckpointSteps));
        Assert.Equal("tea", loaded.Inputs["topic"]);
    }

    [Fact]
    public async Task LoadAsync_LastLineTornByAKill_ReturnsTheStateBeforeIt()
    {
        await using var store = new FileRunStore(_root);
        var run = NewRun();
        await store.SaveAsync(run, CancellationToken.None);
        var step = Step("s1");
        run.Record.Steps.Add(step);
        await store.SaveProgressAsync(run, step, CancellationToken.None);
        step.Status = StepStatus.Succeeded;
        var change = run.ToProgressJson(step)!;
        await File.AppendAllTextAsync(LogPath(), change[..(change.Length / 2)]);

        var loaded = await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None);

        Assert.Equal(StepStatus.Running, Assert.Single(loaded!.Record.Steps).Status);
    }

    [Fact]
    public async Task SaveAsync_ResumedByAnotherStoreAfterTornLine_NewWholeStateWins()
    {
        var run = NewRun();
        await using (var first = new FileRunStore(_root))
        {
            await first.SaveAsync(run, CancellationToken.None);
            var step = Step("s1");
            run.Record.Steps.Add(step);
            await first.SaveProgressAsync(run, step, CancellationToken.None);
        }

        await File.AppendAllTextAsync(LogPath(), "{\"Progress\":{\"Upd");
        var resumed = (await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None))!;
        resumed.Record.Steps[0].Status = StepStatus.Failed;
        var retry = Step("s1");
        resumed.Record.Steps.Add(retry);
        await using (var second = new FileRunStore(_root))
        {
            await second.SaveProgressAsync(resumed, retry, CancellationToken.None); // first save here: a whole state
            retry.Status = StepStatus.Succeeded;
            await second.SaveProgressAsync(resumed, retry, CancellationToken.None);
        }

        var loaded = (await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None))!;

        Assert.Equal([StepStatus.Failed, StepStatus.Succeeded], loaded.Record.Steps.Select(s => s.Status));
    }

    [Fact]
    public async Task SaveProgressAsync_LogOutgrowsFoldSize_FoldsIntoRunJsonAndKeepsEveryStep()
    {
        await using var store = new FileRunStore(_root);
        var run = NewRun();
        await store.SaveAsync(run, CancellationToken.None);
        var big = new string('x', 400 * 1024);
        for (var i = 1; i <= 4; i++)
        {
            var step = Step("s" + i);
            step.Output = big;
            step.Status = StepStatus.Succeeded;
            run.Record.Steps.Add(step);
            await store.SaveProgressAsync(run, step, CancellationToken.None);
        }

        Assert.True(File.Exists(Path.Combine(_root, "run1", "run.json")));
        Assert.False(File.Exists(LogPath())); // folded: run.json holds the state, the next save starts a new log
        var loaded = (await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None))!;
        Assert.Equal(["s1", "s2", "s3", "s4"], loaded.Record.Steps.Select(s => s.Id));
        Assert.All(loaded.Record.Steps, s => Assert.Equal(big.Length, s.Output!.Length));
    }

    [Fact]
    public async Task LoadAsync_ChangesAfterAFold_AppliesThemOnRunJson()
    {
        await using var store = new FileRunStore(_root);
        var run = NewRun();
        await store.SaveAsync(run, CancellationToken.None);
        var big = Step("big");
        big.Output = new string('x', (int)FileRunStore.FoldBytes);
        run.Record.Steps.Add(big);
        await store.SaveProgressAsync(run, big, CancellationToken.None); // a change past the fold size
        var next = Step("next");
        run.Record.Steps.Add(next);
        await store.SaveProgressAsync(run, next, CancellationToken.None); // folds, then starts a new log
        next.Status = StepStatus.Succeeded;
        await store.SaveProgressAsync(run, next, CancellationToken.None); // a change line on top of run.json

        var lines = File.ReadAllLines(LogPath()).Where(l => l.Length > 0).ToList();
        var loaded = (await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None))!;

        Assert.True(File.Exists(Path.Combine(_root, "run1", "run.json")));
        Assert.All(lines, l => Assert.True(DurableRun.IsProgressJson(l)));
        Assert.Equal(["big", "next"], loaded.Record.Steps.Select(s => s.Id));
        Assert.Equal(StepStatus.Succeeded, loaded.Record.Steps[1].Status);
    }

    [Fact]
    public async Task SaveAsync_RunEnds_LoadsTheEndedState()
    {
        await using var store = new FileRunStore(_root);
        var run = NewRun();
        await store.SaveAsync(run, CancellationToken.None);
        run.Record.Status = RunStatus.Succeeded;
        run.Record.Outputs["answer"] = "42";
        await store.SaveProgressAsync(run, changedStep: null, CancellationToken.None);

        var loaded = (await new FileRunStore(_root).LoadAsync("run1", CancellationToken.None))!;

        Assert.Equal(RunStatus.Succeeded, loaded.Record.Status);
        Assert.Equal("42", loaded.Record.Outputs["answer"]);
        Assert.False(loaded.IsActive);
    }

    [Fact]
    public async Task Checkpoints_CreatedInOrder_IndexKeepsOrderAndSkipsATornLast()
    {
        await using var store = new FileRunStore(_root);
        await store.SaveAsync(NewRun(), CancellationToken.None);
        var checkpoints = store.Checkpoints("run1");
        var created = new List<CheckpointInfo>();
        CheckpointInfo? parent = null;
        for (var i = 0; i < 3; i++)
        {
            // Indented, with an escaped newline: the log keeps it on one line all the same.
            using var document = JsonDocument.Parse("{\n  \"step\": " + i + ",\n  \"text\": \"line\\nbreak\"\n}");
            parent = await checkpoints.CreateCheckpointAsync("run1", document.RootElement, parent);
            created.Add(parent);
        }

        await File.AppendAllTextAsync(Path.Combine(_root, "run1", "checkpoints.log"), "abc - {\"step\":", Encoding.UTF8);

        var index = (await new FileRunStore(_root).Checkpoints("run1").RetrieveIndexAsync("run1")).ToList();
        var children = (await checkpoints.RetrieveIndexAsync("run1", created[0])).ToList();
        var second = await new FileRunStore(_root).Checkpoints("run1").RetrieveCheckpointAsync("run1", created[1]);

        Assert.Equal(created.Select(c => c.CheckpointId), index.Select(c => c.CheckpointId));
        Assert.Equal(created[1].CheckpointId, Assert.Single(children).CheckpointId);
        Assert.Equal(1, second.GetProperty("step").GetInt32());
        Assert.Equal("line\nbreak", second.GetProperty("text").GetString());
    }

    [Fact]
    public async Task RetrieveCheckpointAsync_UnknownId_ThrowsNamingTheFile()
    {
        await using var store = new FileRunStore(_root);
        var error = await Assert.ThrowsAsync<RunStoreException>(async () =>
            await store.Checkpoints("run1").RetrieveCheckpointAsync("run1", new CheckpointInfo("run1", "nope")));

        Assert.Contains("checkpoints.log", error.Message, StringComparison.Ordinal);
    }
}
