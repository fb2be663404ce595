using System.Collections.Concurrent;
using System.Globalization;
using AgentFlow.Bench.Harness;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using WorkflowCore.Interface;
using WorkflowCore.Models;
using WorkflowCore.Models.LifeCycleEvents;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// peer: the same 20-step chain on the same zero-work client in WorkflowCore 3.22 (in-memory persistence and queue)
/// and in AgentFlow's engine (direct gateway, no recording or memory: engine against engine), same concurrency.
/// </summary>
internal static class PeerScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var (concurrency, runs) = (options.Pick(1, 16), options.Pick(2, 160));
        var zero = new ZeroWorkModelProvider();

        options.Say("peer: WorkflowCore");
        var peer = await WorkflowCoreStepsPerSecondAsync(zero.Client, concurrency, runs, options, cancellationToken).ConfigureAwait(false);

        options.Say("peer: AgentFlow");
        var definition = BenchModels.Chain(StepOverheadScenario.ChainLength, memory: false);
        await using var harness = await AgentFlowHarness.StartAsync(new HarnessSettings(StepTransport.Direct, false, false), [zero], folder, options, cancellationToken).ConfigureAwait(false);
        await Warmup.RunAsync(options, 1, ct => Load.RunAsync(options.Time, concurrency, Math.Min(runs, concurrency * 2), ct => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct), ct), cancellationToken).ConfigureAwait(false);
        var seconds = await Load.RunAsync(options.Time, concurrency, runs, ct => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct), cancellationToken).ConfigureAwait(false);
        var agentflow = runs * StepOverheadScenario.ChainLength / seconds;
        return new ScenarioResult("peer", [
            new BenchRow($"AgentFlow engine (direct), concurrency {concurrency}", agentflow, "steps/s", peer, $"WorkflowCore 3.22 in-memory, concurrency {concurrency}"),
        ])
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{runs} runs of the 20-step chain per engine; ratio = AgentFlow / WorkflowCore throughput"),
        };
    }

    private static async Task<double> WorkflowCoreStepsPerSecondAsync(IChatClient client, int concurrency, int runs, BenchOptions options, CancellationToken cancellationToken)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddWorkflow();
        services.AddSingleton(new ModelHolder(client));
        services.AddTransient<CallModelStep>();
        await using var provider = services.BuildServiceProvider();
        var host = provider.GetRequiredService<IWorkflowHost>();
        host.RegisterWorkflow<ChainWorkflow, ChainData>();
        var done = new ConcurrentDictionary<string, TaskCompletionSource>(StringComparer.Ordinal);
        host.OnLifeCycleEvent += evt =>
        {
            if (evt is WorkflowCompleted or WorkflowTerminated)
            {
                done.GetOrAdd(evt.WorkflowInstanceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        };
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            async Task OneAsync(CancellationToken ct)
            {
                var id = await host.StartWorkflow(ChainWorkflow.WorkflowId, 1, new ChainData()).ConfigureAwait(false);
                await done.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
                done.TryRemove(id, out _);
            }

            await Warmup.RunAsync(options, 1, ct => Load.RunAsync(options.Time, concurrency, Math.Min(runs, concurrency * 2), OneAsync, ct), cancellationToken).ConfigureAwait(false);
            var seconds = await Load.RunAsync(options.Time, concurrency, runs, OneAsync, cancellationToken).ConfigureAwait(false);
            return runs * StepOverheadScenario.ChainLength / seconds;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>The client WorkflowCore's steps call.</summary>
    internal sealed record ModelHolder(IChatClient Client);

    /// <summary>WorkflowCore's data for one chain run.</summary>
    internal sealed class ChainData
    {
        public string Previous { get; set; } = "bench";

        public int Step { get; set; }
    }

    /// <summary>One chain step: the same streamed call the AgentFlow step makes.</summary>
    internal sealed class CallModelStep(ModelHolder model) : StepBodyAsync
    {
        public override async Task<ExecutionResult> RunAsync(IStepExecutionContext context)
        {
            var data = (ChainData)context.Workflow.Data;
            data.Step++;
            List<ChatMessage> messages = [new(ChatRole.System, $"You are step {data.Step}."), new(ChatRole.User, "Continue after: " + data.Previous)];
            var text = new System.Text.StringBuilder();
            await foreach (var update in model.Client.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 16, Temperature = 0 }, context.CancellationToken).ConfigureAwait(false))
            {
                text.Append(update.Text);
            }

            data.Previous = text.ToString();
            return ExecutionResult.Next();
        }
    }

    /// <summary>The 20-step chain as a WorkflowCore definition.</summary>
    internal sealed class ChainWorkflow : IWorkflow<ChainData>
    {
        public const string WorkflowId = "bench-chain";

        public string Id => WorkflowId;

        public int Version => 1;

        public void Build(IWorkflowBuilder<ChainData> builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            var step = builder.StartWith<CallModelStep>();
            for (var i = 1; i < StepOverheadScenario.ChainLength; i++)
            {
                step = step.Then<CallModelStep>();
            }
        }
    }
}
