using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Core.Tests.Execution;

public sealed class FallbackAndBudgetTests : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-fallback-tests-").FullName;
    private ModelHost _models = null!;

    public Task InitializeAsync()
    {
        // 'small' is a real built-in model whose context cannot hold a long prompt: it fails for real.
        var registry = ModelRegistry.Parse("models:\n  small: { provider: builtin, seed: 3, context: 256 }\n", "agentflow.yaml");
        _models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private Task<RunRecord> RunAsync(string yaml, Dictionary<string, string>? inputs = null)
    {
        var definition = WorkflowLoader.Parse(yaml, "test.yaml").GetDefinitionOrThrow();
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance);
        return runner.RunAsync(new RunRequest(definition) { Inputs = inputs ?? [] }, null, CancellationToken.None);
    }

    [Fact]
    public async Task RunAsync_PrimaryFails_FallbackAnswersAndTheRecordSaysWhichAndWhy()
    {
        var record = await RunAsync("""
            name: fallback
            version: 1
            inputs: { text: { required: true } }
            models: { w: small }
            steps:
              - id: summarize
                agent: { model: w, prompt: "Summarize: {{ inputs.text }}", max_tokens: 8, fallback: [tiny] }
            """, new() { ["text"] = new string('x', 600) });

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(2, record.Steps.Count);
        var (failed, answered) = (record.Steps[0], record.Steps[1]);
        Assert.Equal(("small", StepStatus.Failed, 1), (failed.Model, failed.Status, failed.Attempt));
        Assert.Equal(("tiny", StepStatus.Succeeded, 2), (answered.Model, answered.Status, answered.Attempt));
        Assert.StartsWith("fallback after: model 'small' (alias 'w') failed", answered.Detail, StringComparison.Ordinal);
        Assert.Contains("tiny", record.Models.Keys);
    }

    [Fact]
    public async Task RunAsync_EveryModelFails_ErrorNamesEachModelAndWhy()
    {
        var record = await RunAsync("""
            name: all-fail
            version: 1
            inputs: { text: { required: true } }
            models: { w: small }
            steps:
              - id: summarize
                agent: { model: w, prompt: "{{ inputs.text }}", max_tokens: 8, fallback: [small] }
            """, new() { ["text"] = new string('y', 600) });

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Contains("model 'small' (alias 'w') failed", record.Error!.Message, StringComparison.Ordinal);
        Assert.Contains("; then fallback model 'small' failed", record.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_TokenBudgetExceeded_StopsTheRunWithAClearMessage()
    {
        var record = await RunAsync("""
            name: budget
            version: 1
            models: { w: tiny }
            budget: { max_tokens: 40 }
            steps:
              - { id: one, agent: { model: w, prompt: "Write something", max_tokens: 30 } }
              - { id: two, agent: { model: w, prompt: "More", max_tokens: 30 } }
            """);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("one", record.Error!.StepId);
        Assert.Contains("budget exceeded", record.Error.Message, StringComparison.Ordinal);
        Assert.Contains("max_tokens is 40", record.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(record.Steps, s => s.Id == "two");
    }

    [Fact]
    public async Task Resolve_UnknownFallbackModel_FailsBeforeAnyStep()
    {
        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => RunAsync("""
            name: bad-fallback
            version: 1
            models: { w: tiny }
            steps:
              - { id: one, agent: { model: w, prompt: "x", fallback: [tinny] } }
            """));

        Assert.Contains("fallback model 'tinny' of step 'one' is unknown; did you mean 'tiny'?", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class CostTests : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-cost-tests-").FullName;
    private ModelHost _models = null!;

    public Task InitializeAsync()
    {
        // Prices are AgentFlow settings on any model: per million tokens, and/or hardware cost per hour.
        var registry = ModelRegistry.Parse("""
            models:
              priced: { provider: builtin, seed: 1, price_input_per_mtok: 2000000, price_output_per_mtok: 4000000 }
              hourly: { provider: builtin, seed: 2, hourly_cost: 3600000 }
            """, "agentflow.yaml");
        _models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task RunAsync_PricedModels_CostPerStepFollowsTokensAndBusyTime()
    {
        var definition = WorkflowLoader.Parse("""
            name: cost
            version: 1
            models: { p: priced, h: hourly }
            steps:
              - { id: tokens, agent: { model: p, prompt: "hi", max_tokens: 5 } }
              - { id: time, agent: { model: h, prompt: "hi", max_tokens: 5 } }
            """, "cost.yaml").GetDefinitionOrThrow();
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance);

        var record = await runner.RunAsync(new RunRequest(definition), null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var tokens = record.Steps[0];
        Assert.Equal((tokens.InputTokens!.Value * 2.0) + (tokens.OutputTokens!.Value * 4.0), tokens.CostUsd!.Value, 6);
        var time = record.Steps[1];
        Assert.Equal(time.LatencyMs, time.CostUsd!.Value, 6); // 3,600,000 USD/hour = 1 USD per millisecond
        Assert.Equal(tokens.CostUsd + time.CostUsd, record.CostUsd);
    }

    [Fact]
    public async Task RunAsync_CostBudgetCrossed_StopsTheRunAfterThatStep()
    {
        var definition = WorkflowLoader.Parse("""
            name: cost-budget
            version: 1
            models: { p: priced }
            budget: { max_cost_usd: 50 }
            steps:
              - { id: first, agent: { model: p, prompt: "hi", max_tokens: 5 } }
              - { id: second, agent: { model: p, prompt: "hi", max_tokens: 5 } }
            """, "cost.yaml").GetDefinitionOrThrow();
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance);

        var record = await runner.RunAsync(new RunRequest(definition), null, CancellationToken.None);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("first", record.Error!.StepId);
        Assert.Contains("max_cost_usd is 50", record.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(record.Steps, s => s.Id == "second");
    }

    [Fact]
    public void Parse_BadPrice_IsALocatedError()
    {
        var ex = Assert.Throws<DefinitionException>(() => ModelRegistry.Parse("models:\n  x: { provider: builtin, hourly_cost: cheap }\n", "agentflow.yaml"));

        Assert.Equal("AF0914", Assert.Single(ex.Diagnostics).Code);
        Assert.Equal(2, ex.Diagnostics[0].Location.Line);
    }
}
