using System.Text;
using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Engine;

/// <summary>Runs an agent step: renders its prompts, streams the bound model's answer, records tokens and timings.</summary>
internal sealed class AgentStepExecutor : Executor<FlowState, FlowState>
{
    /// <summary>Used when a step sets no max_tokens.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>Response property naming the worker that answered (set by remote chat clients).</summary>
    public const string WorkerProperty = "agentflow.worker";

    private readonly AgentStepDefinition _step;
    private readonly string? _loopId;
    private readonly RunContext _run;
    private readonly LiquidTemplate _prompt;
    private readonly LiquidTemplate? _system;

    public AgentStepExecutor(AgentStepDefinition step, string? loopId, RunContext run)
        : base(step.Id)
    {
        _step = step;
        _loopId = loopId;
        _run = run;
        _prompt = LiquidTemplate.Compile(step.Prompt);
        _system = step.System is null ? null : LiquidTemplate.Compile(step.System);
    }

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var model = _run.Models[_step.ModelAlias];
        var scope = _run.Scope(message, _loopId);
        var system = _system is null ? null : await _system.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        var prompt = await _prompt.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        var record = new StepRecord
        {
            Id = _step.Id,
            Kind = "agent",
            ModelAlias = _step.ModelAlias,
            Model = model.ModelName,
            Iteration = RunContext.IterationOf(message, _loopId),
            Started = _run.Time.GetUtcNow(),
            System = system,
            Prompt = prompt,
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);

        List<ChatMessage> messages = system is null
            ? [new(ChatRole.User, prompt)]
            : [new(ChatRole.System, system), new(ChatRole.User, prompt)];
        var options = new ChatOptions
        {
            MaxOutputTokens = _step.MaxTokens ?? DefaultMaxTokens,
            Temperature = _step.Temperature,
            TopP = _step.TopP,
            Seed = _step.Seed,
            StopSequences = _step.Stop.Count > 0 ? [.. _step.Stop] : null,
        };

        var started = _run.Time.GetTimestamp();
        var text = new StringBuilder();
        try
        {
            await foreach (var update in model.Client.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
            {
                if (!string.IsNullOrEmpty(update.Text))
                {
                    text.Append(update.Text);
                    await RunContext.EmitAsync(context, new StepOutputChunkEvent(_run.RunId, _step.Id, update.Text), cancellationToken).ConfigureAwait(false);
                }

                foreach (var usage in update.Contents.OfType<UsageContent>())
                {
                    record.InputTokens = (int?)usage.Details.InputTokenCount ?? record.InputTokens;
                    record.OutputTokens = (int?)usage.Details.OutputTokenCount ?? record.OutputTokens;
                }

                if (update.FinishReason is { } reason)
                {
                    record.FinishReason = reason.Value;
                }

                // A remote model (a worker over the message bus) names the process that answered.
                if (update.AdditionalProperties?.TryGetValue(WorkerProperty, out var worker) == true && worker is not null)
                {
                    record.Worker = worker.ToString();
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
            record.Status = StepStatus.Failed;
            record.Error = ex.Message;
            await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
            throw new StepFailedException(_step.Id, $"model '{model.ModelName}' (alias '{_step.ModelAlias}') failed: {ex.Message}", ex);
        }

        record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        record.Output = text.ToString();
        record.Status = StepStatus.Succeeded;
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
        return message.WithOutput(_step.Id, StepOutput.OfText(record.Output));
    }
}
