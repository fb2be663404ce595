using System.Text.RegularExpressions;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Replay;
using AgentFlow.Experiments.Runs;
using AgentFlow.Experiments.Scoring;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Experiments.Tests.Replay;

/// <summary>Replays on the real built-in models; every model call is counted by a pass-through wrapper.</summary>
public sealed class ReplayRunTests : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-replay-tests-").FullName;
    private readonly CountingProvider _provider;
    private ModelHost _models = null!;

    public ReplayRunTests() => _provider = new CountingProvider(new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models"))));

    public Task InitializeAsync()
    {
        var registry = ModelRegistry.Parse("models:\n  tiny3: { provider: builtin, seed: 3 }\n", "agentflow.yaml");
        _models = new ModelHost(registry, [_provider]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private Task<RunRecord> RunAsync(RunRequest request) =>
        new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance).RunAsync(request, null, CancellationToken.None);

    [Fact]
    public async Task RunAsync_ReplayWithSwappedCritic_ReusesRecordedOutputsWithoutModelCallsAndRunsTheRestLive()
    {
        var definition = WorkflowLoader.Parse(ReplayPlannerTests.LoopWorkflow, "loopy.yaml").GetDefinitionOrThrow();
        var original = await RunAsync(new RunRequest(definition));
        Assert.True(original.Status == RunStatus.Succeeded, original.Error?.ToString());
        Assert.Equal(6, _provider.Calls); // outline, draft#1, critique#1, draft#2, critique#2, final

        var bindings = new Dictionary<string, string> { ["writer"] = "tiny", ["critic"] = "tiny2" };
        var plan = ReplayPlanner.Plan(definition, RecordedRun.FromRecord(original), bindings, from: null);
        var before = _provider.Calls;
        var replay = await RunAsync(new RunRequest(definition) { Bindings = bindings, Replay = plan.Replay });

        Assert.Equal(RunStatus.Succeeded, replay.Status);
        Assert.Equal(4, _provider.Calls - before); // critique#1, draft#2, critique#2, final: outline and draft#1 are reused
        var reused = replay.Steps.Where(s => s.ReplayedFrom is not null).ToList();
        Assert.Equal(["outline", "draft"], reused.Select(s => s.Id));
        Assert.All(reused, s => Assert.Equal(original.RunId, s.ReplayedFrom));
        Assert.All(reused, s => Assert.Null(s.InputTokens));
        Assert.Equal(original.Steps.First(s => s.Id == "outline").Output, reused[0].Output);
        Assert.Equal(original.Steps.First(s => s is { Id: "draft", Iteration: 1 }).Output, reused[1].Output);
        var critiques = replay.Steps.Where(s => s.Id == "critique").ToList();
        Assert.Equal(["tiny2", "tiny2"], critiques.Select(s => s.Model));
        Assert.All(critiques, s => Assert.True(s.OutputTokens > 0));
        Assert.NotEqual(original.Steps.First(s => s.Id == "critique").Output, critiques[0].Output); // another model, other text

        var diff = RunDiff.Build(RecordedRun.FromRecord(original), RecordedRun.FromRecord(replay));
        Assert.Equal(["outline", "refine", "draft#1", "critique#1", "draft#2", "critique#2", "final"], diff.Select(d => d.Label));
        Assert.True(diff[0].SameOutput && diff[2].SameOutput);
        Assert.False(diff[3].SameOutput);
    }

    [Fact]
    public async Task ScoreAsync_JudgeOnBuiltinModel_RecordsPromptModelAndVerdict()
    {
        var loaded = await _models.GetAsync("tiny2", CancellationToken.None);
        var judge = new JudgeScorer("tiny2", loaded.Client, "Is '{{ output }}' the capital of {{ inputs.country }}? Expected {{ expected }}. PASS or FAIL:");
        var c = new ExperimentCase("c1", 1, new Dictionary<string, string> { ["country"] = "France" }, "Paris");

        var score = await judge.ScoreAsync(new ScoringContext(c, "Paris"), CancellationToken.None);

        Assert.Equal("judge", score.Name);
        var record = score.Record!;
        Assert.Equal("tiny2", record["model"]!.GetValue<string>());
        Assert.Equal("Is 'Paris' the capital of France? Expected Paris. PASS or FAIL:", record["prompt"]!.GetValue<string>());
        var verdict = record["verdict"]!.GetValue<string>();
        var first = Regex.Match(verdict, @"\b(pass|fail|yes|no|correct|incorrect)\b", RegexOptions.IgnoreCase);
        Assert.Equal(first.Success && first.Value.ToUpperInvariant() is "PASS" or "YES" or "CORRECT" ? 1 : 0, score.Value);
        Assert.True(record["output_tokens"]!.GetValue<long>() > 0, "the judge really generated");
        Assert.True(judge.NeedsExpected);
    }

    /// <summary>Passes every call to the real built-in model and counts the calls.</summary>
    private sealed class CountingProvider(IModelProvider inner) : IModelProvider
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public string Name => inner.Name;

        public IReadOnlyList<string> Check(ModelSpec spec) => inner.Check(spec);

        public async Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
        {
            var model = await inner.LoadAsync(spec, cancellationToken);
            return new LoadedModel(spec, new CountingClient(model.Client, () => Interlocked.Increment(ref _calls)), model.Description, model.FileSha256, model);
        }
    }

    private sealed class CountingClient(IChatClient inner, Action counted) : DelegatingChatClient(inner)
    {
        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            counted();
            return base.GetResponseAsync(messages, options, cancellationToken);
        }

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            counted();
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }
}
