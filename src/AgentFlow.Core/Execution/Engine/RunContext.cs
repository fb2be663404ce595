using System.Collections.Concurrent;
using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Engine;

/// <summary>What every executor of one run shares: inputs, bound models, the clock and open composite records.</summary>
internal sealed class RunContext(
    string runId,
    IReadOnlyDictionary<string, object?> inputs,
    IReadOnlyDictionary<string, BoundModel> models,
    IReadOnlyDictionary<string, BoundModel> modelsByName,
    TimeProvider time,
    StepPolicy defaults,
    BudgetDefinition? budget,
    RunConversation? conversation)
{
    /// <summary>The run's limits, if any.</summary>
    public BudgetDefinition? Budget { get; } = budget;

    // Timestamp null: opened in an earlier process (a resumed run); latency then comes from the wall clock.
    private readonly ConcurrentDictionary<string, (StepRecord Record, long? Timestamp)> _openComposites = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Id, int? Iteration), int> _priorAttempts = [];
    private readonly ConcurrentDictionary<(string Id, int? Iteration), string> _completed = new();
    private readonly ConcurrentDictionary<(string Id, int? Iteration, int Attempt), StepRecord> _attempts = new();
    private readonly ConcurrentDictionary<(string Id, int? Iteration), string> _priorChildRuns = new();

    /// <summary>The child run the last recorded attempt of a workflow step started (taken once); null in a fresh run.</summary>
    public string? TakePriorChildRun(string stepId, int? iteration) =>
        _priorChildRuns.TryRemove((stepId, iteration), out var child) ? child : null;

    /// <summary>The file of the workflow being run (workflow steps resolve their files against its folder).</summary>
    public string WorkflowFile { get; init; } = string.Empty;

    /// <summary>Runs a child run for a workflow step (the same machinery as workflow tools); null where the host runs none.</summary>
    public Func<Tools.ChildRunRequest, CancellationToken, Task<RunRecord>>? RunChild { get; init; }

    /// <summary>
    /// Continues a run recorded by an earlier process: composites it opened close into its records, attempt numbers
    /// go on after the recorded ones (each attempt keeps a distinct key), and spending starts from what was spent.
    /// Records from <paramref name="checkpointSteps"/> on were made after the checkpoint the run resumes from: the
    /// engine runs those steps again, so an agent step that had already succeeded there answers from its record (the
    /// model is not called twice) and a composite reopens its own record (no duplicate rows).
    /// </summary>
    public void Restore(RunRecord record, int checkpointSteps)
    {
        ArgumentNullException.ThrowIfNull(record);
        for (var i = 0; i < record.Steps.Count; i++)
        {
            var step = record.Steps[i];
            var afterCheckpoint = i >= checkpointSteps;
            if (step.Kind is "agent" or "workflow")
            {
                var key = (step.Id, step.Iteration);
                _priorAttempts[key] = Math.Max(_priorAttempts.GetValueOrDefault(key), step.Attempt);
                _attempts[(step.Id, step.Iteration, step.Attempt)] = step;
                if (afterCheckpoint && step.Status == StepStatus.Succeeded)
                {
                    _completed[key] = step.Output ?? string.Empty;
                }

                if (step.ChildRunId is { } child)
                {
                    // The latest attempt's child: a workflow step continues or reuses it instead of starting another.
                    _priorChildRuns[key] = child;
                }
            }
            else if (step.Status == StepStatus.Running || afterCheckpoint)
            {
                step.Status = StepStatus.Running;
                _openComposites[step.Id] = (step, null);
            }
        }

        _tokens = record.InputTokens + record.OutputTokens;
        _microDollars = (long)Math.Round((record.CostUsd ?? 0) * 1_000_000);
    }

    /// <summary>
    /// The recorded attempt of a resumed run that parked before a tool call needing approval (its record goes on
    /// after the decision); null when this process did not restore it. Still <see cref="StepStatus.Running"/> unless
    /// the process that continued it after the decision stopped (then it was marked interrupted).
    /// </summary>
    public StepRecord? TakeParked(string stepId, int? iteration, int attempt) =>
        _attempts.Remove((stepId, iteration, attempt), out var record) ? record : null;

    /// <summary>
    /// The output of an agent step that succeeded after the checkpoint a resumed run started from (taken once), or
    /// null when the step has to run.
    /// </summary>
    public string? TakeCompleted(string stepId, int? iteration) =>
        _completed.Remove((stepId, iteration), out var output) ? output : null;

    /// <summary>Attempts of a step (in one loop iteration) an earlier process already made; 0 in a fresh run.</summary>
    public int PriorAttempts(string stepId, int? iteration) => _priorAttempts.GetValueOrDefault((stepId, iteration));

    public string RunId { get; } = runId;

    public IReadOnlyDictionary<string, object?> Inputs { get; } = inputs;

    /// <summary>Models by alias.</summary>
    public IReadOnlyDictionary<string, BoundModel> Models { get; } = models;

    /// <summary>Every model the run may call, by registry name (fallbacks included).</summary>
    public IReadOnlyDictionary<string, BoundModel> ModelsByName { get; } = modelsByName;

    private long _tokens;
    private long _microDollars;

    /// <summary>Adds a finished attempt's tokens and cost to the run's totals; returns why the budget is now exceeded, or null.</summary>
    public string? Spend(StepRecord attempt, BudgetDefinition? budget)
    {
        var tokens = Interlocked.Add(ref _tokens, (attempt.InputTokens ?? 0) + (attempt.OutputTokens ?? 0));
        var cost = Interlocked.Add(ref _microDollars, (long)Math.Round((attempt.CostUsd ?? 0) * 1_000_000)) / 1_000_000.0;
        if (budget?.MaxTokens is { } maxTokens && tokens > maxTokens)
        {
            return $"budget exceeded: {tokens} tokens used, max_tokens is {maxTokens}";
        }

        return budget?.MaxCostUsd is { } maxCost && cost > maxCost
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"budget exceeded: ${cost:0.####} spent, max_cost_usd is {maxCost}")
            : null;
    }

    public TimeProvider Time { get; } = time;

    /// <summary>The workflow's timeout and retry defaults for agent steps.</summary>
    public StepPolicy Defaults { get; } = defaults;

    /// <summary>Searches collections for retrieve steps; null when the workflow has none.</summary>
    public Retrieval.IRetriever? Retriever { get; init; }

    /// <summary>Recorded outputs agent steps reuse instead of calling their model (replays), or null.</summary>
    public RunReplay? Replay { get; init; }

    /// <summary>The secrets masked in every error text a step records.</summary>
    public Secrets.SecretRedactor Secrets { get; init; } = new();

    /// <summary>The run's opened tools (empty when no step uses any).</summary>
    public Tools.ToolSet Tools { get; set; } = Execution.Tools.ToolSet.Empty;

    /// <summary>The conversation memory steps read and write, when the workflow has one.</summary>
    public RunConversation? Conversation { get; } = conversation;

    /// <summary>The template scope a step sees: inputs, outputs so far, and its innermost loop's iteration.</summary>
    public TemplateScope Scope(FlowState state, string? loopId) =>
        new(Inputs, state.Outputs, loopId is not null && state.Iterations.TryGetValue(loopId, out var i) ? i : null);

    public static int? IterationOf(FlowState state, string? loopId) =>
        loopId is not null && state.Iterations.TryGetValue(loopId, out var i) ? i : null;

    public static ValueTask EmitAsync(IWorkflowContext context, RunEvent runEvent, CancellationToken cancellationToken) =>
        context.AddEventAsync(new AgentFlowWorkflowEvent(runEvent), cancellationToken);

    /// <summary>Starts the record of a composite step (switch, parallel, loop); its closing executor finishes it.</summary>
    public async ValueTask<StepRecord> OpenCompositeAsync(IWorkflowContext context, string id, string kind, int? iteration, CancellationToken cancellationToken)
    {
        if (_openComposites.TryGetValue(id, out var restored) && restored.Timestamp is null && restored.Record.Iteration == iteration)
        {
            // Opened by the process that stopped, after the checkpoint this run resumed from: the same record goes on.
            return restored.Record;
        }

        var record = new StepRecord { Id = id, Kind = kind, Iteration = iteration, Started = Time.GetUtcNow() };
        _openComposites[id] = (record, Time.GetTimestamp());
        await EmitAsync(context, new StepStartedEvent(RunId, record), cancellationToken).ConfigureAwait(false);
        return record;
    }

    public async ValueTask CloseCompositeAsync(
        IWorkflowContext context, string id, StepOutput? output, string? detail, string? error, CancellationToken cancellationToken, Action<StepRecord>? update = null)
    {
        if (!_openComposites.TryRemove(id, out var open))
        {
            return;
        }

        var record = open.Record;
        update?.Invoke(record);
        record.LatencyMs = open.Timestamp is { } timestamp
            ? Time.GetElapsedTime(timestamp).TotalMilliseconds
            : (Time.GetUtcNow() - record.Started).TotalMilliseconds;
        record.Output = output?.ToString();
        record.Detail = detail;
        record.Error = Secrets.Redact(error);
        record.Status = error is null ? StepStatus.Succeeded : StepStatus.Failed;
        await EmitAsync(context, new StepFinishedEvent(RunId, record), cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>An alias bound to a loaded model for one run.</summary>
/// <param name="Alias">The alias steps use.</param>
/// <param name="ModelName">The registry model name.</param>
/// <param name="Client">The client answering for it.</param>
/// <param name="Tokens">Its tokenizer, when this process has it.</param>
/// <param name="Price">What a call costs, when the registry prices the model.</param>
internal sealed record BoundModel(string Alias, string ModelName, IChatClient Client, Models.ITokenCounter? Tokens, Models.ModelPrice? Price = null);

/// <summary>The run's conversation: which one, where it is stored, how long it is kept.</summary>
internal sealed record RunConversation(string Id, Conversations.IConversationMemory Store, TimeSpan? Ttl);

/// <summary>Carries an AgentFlow <see cref="RunEvent"/> through the engine's event stream.</summary>
internal sealed class AgentFlowWorkflowEvent(RunEvent runEvent) : WorkflowEvent(runEvent)
{
    public RunEvent RunEvent { get; } = runEvent;
}
