using AgentFlow.Conversations;
using AgentFlow.Definitions;
using AgentFlow.Execution.Durable;
using AgentFlow.Execution.Engine;
using AgentFlow.Execution.Tools;
using AgentFlow.Models;
using AgentFlow.Secrets;
using AgentFlow.Templates;
using System.Text.Json;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Agents.AI.Workflows.Checkpointing;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Execution;

/// <summary>What to run: a validated definition, the raw inputs and the alias re-bindings.</summary>
/// <param name="Definition">The workflow.</param>
public sealed record RunRequest(WorkflowDefinition Definition)
{
    /// <summary><c>--input name=value</c> pairs, as text.</summary>
    public IReadOnlyDictionary<string, string> Inputs { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--bind alias=model</c> pairs.</summary>
    public IReadOnlyDictionary<string, string> Bindings { get; init; } = new Dictionary<string, string>();

    /// <summary>Run id to use; a new one when null.</summary>
    public string? RunId { get; init; }

    /// <summary>Host settings kept with a durable run so another process can continue it (see <see cref="DurableRun.Host"/>).</summary>
    public IReadOnlyDictionary<string, string> Host { get; init; } = new Dictionary<string, string>();

    /// <summary>Recorded agent step outputs to reuse instead of calling models (replays); null runs every step live.</summary>
    public RunReplay? Replay { get; init; }

    /// <summary>The run whose tool started this one as a child run (a workflow tool); null for a top-level run.</summary>
    public string? ParentRunId { get; init; }
}

/// <summary>What to continue: a stored run, its (reloaded) definition and, for a parked run, the decision.</summary>
/// <param name="Run">The stored run.</param>
/// <param name="Definition">The workflow, loaded again from <see cref="DurableRun.WorkflowPath"/>.</param>
public sealed record ResumeRequest(DurableRun Run, WorkflowDefinition Definition)
{
    /// <summary>The decision for the approval the run waits at; null to continue an interrupted run (or apply a due timeout).</summary>
    public ApprovalAnswer? Answer { get; init; }
}

/// <summary>A person's decision on an approval step.</summary>
/// <param name="StepId">The approval step.</param>
/// <param name="Approved">Approve (true) or reject (false).</param>
/// <param name="DecidedBy">Who decides.</param>
/// <param name="Comment">Why, optionally.</param>
public sealed record ApprovalAnswer(string StepId, bool Approved, string DecidedBy, string? Comment);

/// <summary>
/// Runs a workflow: checks inputs and bindings, loads the bound models, compiles the definition to an Agent
/// Framework workflow, lets the engine run it, and turns the engine's event stream into a <see cref="RunRecord"/>.
/// </summary>
public sealed partial class WorkflowRunner
{
    private readonly ModelHost _models;
    private readonly IModelGateway _gateway;
    private readonly TimeProvider _time;
    private readonly ILogger<WorkflowRunner> _logger;
    private readonly IConversationMemory? _memory;
    private readonly IRunStore? _runs;
    private static readonly string Owner = $"{Environment.MachineName}:{Environment.ProcessId}";

    // One connection pool for every http tool of the process; redirects are checked per call.
    private static readonly HttpToolProvider HttpTools = new();
    private IReadOnlyDictionary<string, IToolProvider>? _toolProviders;

    /// <summary>
    /// Tool kinds beyond the built-in <c>http</c> and <c>workflow</c> (AgentFlow.Tools adds <c>mcp</c> and <c>plugin</c>);
    /// a workflow using a kind nobody provides fails before any step runs.
    /// </summary>
    public IReadOnlyList<IToolProvider> ToolProviders { get; init; } = [];

    private IReadOnlyDictionary<string, IToolProvider> Providers => _toolProviders ??=
        new IToolProvider[] { HttpTools, new WorkflowToolProvider(RunChildAsync) }
            .Concat(Retriever is null ? [] : [new RetrieveToolProvider(Retriever)])
            .Concat(ToolProviders).ToDictionary(p => p.Kind, StringComparer.Ordinal);

    /// <summary>
    /// Opens the record of each child run (workflow steps and workflow tools) besides the run store: the CLI creates
    /// its MLflow run here, and that run's id becomes the child's run id. Null: child runs are kept in the run store
    /// (when there is one) and in the parent's record only.
    /// </summary>
    public Func<ChildRunStart, CancellationToken, Task<ChildRunRecording>>? RecordChildRun { get; init; }

    // Every child run (a workflow tool's call, a workflow step) runs here, to its end, in this process, with its own
    // record naming the parent. A child an earlier attempt started is reused when it succeeded and continued when it
    // was interrupted, so a resumed parent never runs a finished child again.
    private async Task<RunRecord> RunChildAsync(ChildRunRequest request, CancellationToken cancellationToken)
    {
        if (request.PriorRunId is { } prior && _runs is not null && await _runs.LoadAsync(prior, cancellationToken).ConfigureAwait(false) is { } stored)
        {
            if (stored.Record.Status == RunStatus.Succeeded)
            {
                LogChildReused(request.ParentRunId, prior);
                if (request.OnStarted is { } reused)
                {
                    await reused(prior).ConfigureAwait(false);
                }

                return stored.Record;
            }

            if (stored.Record.Status == RunStatus.Running)
            {
                // Interrupted with its parent: it goes on from its own last checkpoint.
                var continued = RecordChildRun is null ? null
                    : await RecordChildRun(new ChildRunStart(request.Definition, request.ParentRunId, prior), cancellationToken).ConfigureAwait(false);
                string? refusal = null;
                try
                {
                    if (request.OnStarted is { } resumed)
                    {
                        await resumed(prior).ConfigureAwait(false);
                    }

                    return await ResumeAsync(new ResumeRequest(stored, request.Definition), continued?.Observer, cancellationToken).ConfigureAwait(false);
                }
                catch (AgentFlowException ex)
                {
                    refusal = ex.Message;
                    throw;
                }
                finally
                {
                    if (continued is not null)
                    {
                        await continued.CloseAsync(refusal).ConfigureAwait(false);
                    }
                }
            }
        }

        var recording = RecordChildRun is null ? null
            : await RecordChildRun(new ChildRunStart(request.Definition, request.ParentRunId, ContinuedRunId: null), cancellationToken).ConfigureAwait(false);
        string? failure = "the child run did not start";
        try
        {
            var runId = recording?.RunId ?? Guid.NewGuid().ToString("N");
            if (request.OnStarted is { } started)
            {
                await started(runId).ConfigureAwait(false);
            }

            var child = new RunRequest(request.Definition) { Inputs = request.Inputs, ParentRunId = request.ParentRunId, RunId = runId, Host = request.Host };
            var record = await RunAsync(child, recording?.Observer, cancellationToken).ConfigureAwait(false);
            failure = null;
            return record;
        }
        catch (AgentFlowException ex)
        {
            failure = Secrets.Redact($"refused before any step: {ex.Message}");
            throw;
        }
        finally
        {
            if (recording is not null)
            {
                await recording.CloseAsync(failure).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Creates a runner whose models run in this process.</summary>
    public WorkflowRunner(ModelHost models, TimeProvider time, ILogger<WorkflowRunner> logger)
        : this(models, new LocalModelGateway(models), time, logger)
    {
    }

    /// <summary>
    /// Creates a runner whose models answer through <paramref name="gateway"/> (e.g. workers over a bus), with the
    /// conversation store workflows with <c>memory:</c> use.
    /// </summary>
    public WorkflowRunner(ModelHost models, IModelGateway gateway, TimeProvider time, ILogger<WorkflowRunner> logger, IConversationMemory? memory = null)
        : this(models, gateway, time, logger, memory, runs: null)
    {
    }

    /// <summary>
    /// Creates a runner whose runs are durable: state and engine checkpoints go to <paramref name="runs"/> after every
    /// step and superstep, so runs park at approvals (nothing held in memory) and survive a crash.
    /// </summary>
    public WorkflowRunner(ModelHost models, IModelGateway gateway, TimeProvider time, ILogger<WorkflowRunner> logger, IConversationMemory? memory, IRunStore? runs)
    {
        _runs = runs;
        _memory = memory;
        _models = models ?? throw new ArgumentNullException(nameof(models));
        _gateway = gateway ?? throw new ArgumentNullException(nameof(gateway));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Searches collections for retrieve steps; null in hosts without retrieval (a workflow with retrieve steps then fails before it starts).</summary>
    public Retrieval.IRetriever? Retriever { get; init; }

    /// <summary>
    /// The secrets masked in every error text before it enters the run record (a step's error, the run's error), so
    /// the transcript, the run store, MLflow and every API answer built from the record are scrubbed at the source.
    /// Default: none known (Bearer credentials are masked still).
    /// </summary>
    public SecretRedactor Secrets { get; init; } = new();

    /// <summary>
    /// Runs <paramref name="request"/> until it ends, or parks at an approval (status <see cref="RunStatus.Waiting"/>).
    /// Bad inputs or bindings throw before any step runs; a failing step does not throw: the returned record has
    /// status <see cref="RunStatus.Failed"/> and names the step.
    /// </summary>
    /// <exception cref="InputException">Inputs do not match the declaration.</exception>
    /// <exception cref="ModelConfigurationException">An alias or model cannot be used.</exception>
    public async Task<RunRecord> RunAsync(RunRequest request, IRunObserver? observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var definition = request.Definition;
        if (_runs is null && definition.AllSteps().OfType<ApprovalStepDefinition>().FirstOrDefault() is { } approval)
        {
            throw new AgentFlowException($"workflow '{definition.Name}' has approval step '{approval.Id}', and runs that wait need a run store; this host has none");
        }

        if (_runs is null && request.Replay is null && definition.Tools.FirstOrDefault(t => t.Approve && definition.AllSteps().OfType<AgentStepDefinition>().Any(a => a.Tools.Contains(t.Name))) is { } approved)
        {
            throw new AgentFlowException($"workflow '{definition.Name}' has tool '{approved.Name}' with approve: true, and runs that wait need a run store; this host has none");
        }

        var prepared = await PrepareAsync(definition, request.Inputs, request.Bindings, cancellationToken).ConfigureAwait(false);
        var record = new RunRecord
        {
            RunId = request.RunId ?? Guid.NewGuid().ToString("N"),
            Workflow = definition.Name,
            WorkflowVersion = definition.Version,
            DefinitionSha256 = definition.Sha256,
            Started = _time.GetUtcNow(),
            Inputs = RunInputs.ToJson(prepared.Inputs),
            Bindings = prepared.Bindings.ToDictionary(b => b.Key, b => b.Value.Name, StringComparer.Ordinal),
            Models = prepared.Endpoints.ToDictionary(e => e.Key, e => e.Value.Info, StringComparer.Ordinal),
            ParentRunId = request.ParentRunId,
        };

        var context = await CreateContextAsync(definition, record, prepared, request.Replay, request.Host, cancellationToken).ConfigureAwait(false);
        await using var tools = await OpenToolsAsync(definition, record.RunId, prepared, cancellationToken).ConfigureAwait(false);
        context.Tools = tools;
        var workflow = WorkflowCompiler.Compile(definition, context);
        DurableRun? durable = null;
        await using var lease = _runs is null ? null : await _runs.TryAcquireLeaseAsync(record.RunId, Owner, cancellationToken).ConfigureAwait(false);
        if (_runs is not null)
        {
            if (lease is null)
            {
                throw new RunStoreException($"run {record.RunId} is already being run by another process");
            }

            durable = new DurableRun
            {
                RunId = record.RunId,
                WorkflowPath = Path.GetFullPath(definition.FilePath),
                DefinitionSha256 = definition.Sha256,
                Inputs = new Dictionary<string, string>(request.Inputs, StringComparer.Ordinal),
                Bindings = new Dictionary<string, string>(request.Bindings, StringComparer.Ordinal),
                Host = new Dictionary<string, string>(request.Host, StringComparer.Ordinal),
                Record = record,
            };
            await SaveAsync(durable, CancellationToken.None).ConfigureAwait(false);
        }

        LogRunStarted(record.RunId, definition.Name);
        observer?.OnEvent(new RunStartedEvent(record.RunId, record));
        return await DriveAsync(record, durable, answer: null, observer, async ct => durable is null
            ? await InProcessExecution.RunStreamingAsync(workflow, FlowState.Initial, record.RunId, ct).ConfigureAwait(false)
            : await InProcessExecution.RunStreamingAsync(workflow, FlowState.Initial, Checkpointing(durable), record.RunId, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Continues a stored run in this process: a parked run with the decision in <see cref="ResumeRequest.Answer"/>
    /// (or its due timeout), an interrupted run from its last checkpoint. Steps that finished before are not run again;
    /// a step that was in flight runs again as a new attempt, the interrupted one kept in the record.
    /// </summary>
    /// <exception cref="RunStoreException">The workflow file changed since the run started, the run is finished or run
    /// by another process, or the decision names a step the run does not wait at.</exception>
    public async Task<RunRecord> ResumeAsync(ResumeRequest request, IRunObserver? observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var runs = _runs ?? throw new InvalidOperationException("resuming needs a runner created with a run store");
        var (stored, definition) = (request.Run, request.Definition);
        var record = stored.Record;
        if (!stored.IsActive)
        {
            throw new RunStoreException($"run {stored.RunId} has already ended ({record.Status.ToString().ToLowerInvariant()}); there is nothing to continue");
        }

        if (!string.Equals(definition.Sha256, stored.DefinitionSha256, StringComparison.Ordinal))
        {
            throw new RunStoreException(
                $"{stored.WorkflowPath} changed since run {stored.RunId} started (sha256 {stored.DefinitionSha256[..12]}… then, {definition.Sha256[..12]}… now); " +
                "a run continues only on the definition it started with: restore that file (the run's MLflow record keeps it as workflow.yaml) or start a new run");
        }

        if (request.Answer is { } answer && (record.Status != RunStatus.Waiting || record.Waiting?.StepId != answer.StepId))
        {
            throw new RunStoreException(record.Waiting is { } waiting
                ? $"run {stored.RunId} waits at approval '{waiting.StepId}', not '{answer.StepId}'"
                : $"run {stored.RunId} is not waiting for a decision (it is {record.Status.ToString().ToLowerInvariant()})");
        }

        await using var lease = await runs.TryAcquireLeaseAsync(stored.RunId, Owner, cancellationToken).ConfigureAwait(false)
            ?? throw new RunStoreException($"run {stored.RunId} is being run by another process right now; try again when it parks or ends");
        var prepared = await PrepareAsync(definition, stored.Inputs, stored.Bindings, cancellationToken).ConfigureAwait(false);
        foreach (var step in record.Steps.Where(s => s.Kind is "agent" or "workflow" && s.Status == StepStatus.Running && !ParkedAtTool(record, s)))
        {
            // Its process stopped mid-step: the attempt stays in the record, and the step runs again as the next one.
            step.Status = StepStatus.Failed;
            step.Error = "interrupted: the process running this step stopped before it finished; the step runs again after resume";
        }

        var context = await CreateContextAsync(definition, record, prepared, replay: null, stored.Host, cancellationToken).ConfigureAwait(false);
        await using var tools = await OpenToolsAsync(definition, record.RunId, prepared, cancellationToken).ConfigureAwait(false);
        context.Tools = tools;
        context.Restore(record, stored.CheckpointId is null ? 0 : stored.CheckpointSteps);
        var workflow = WorkflowCompiler.Compile(definition, context);
        record.Status = RunStatus.Running;
        LogRunResumed(stored.RunId, definition.Name, stored.CheckpointId ?? "(start)");
        observer?.OnEvent(new RunResumedEvent(record.RunId, record));
        return await DriveAsync(record, stored, request.Answer, observer, async ct => stored.CheckpointId is { } checkpoint
            ? await InProcessExecution.ResumeStreamingAsync(workflow, new CheckpointInfo(stored.RunId, checkpoint), Checkpointing(stored), ct).ConfigureAwait(false)
            : await InProcessExecution.RunStreamingAsync(workflow, FlowState.Initial, Checkpointing(stored), stored.RunId, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    // The attempt a run parked in before a tool call that needs approval: it did not stop, it waits, and goes on after the decision.
    private static bool ParkedAtTool(RunRecord record, StepRecord step) =>
        record is { Status: RunStatus.Waiting, Waiting: { Tool: not null } waiting } && waiting.StepId == step.Id && waiting.Iteration == step.Iteration;

    // One manager for all runs: creating one configures the checkpoint types' JSON metadata anew (SessionCheckpointStore).
    private CheckpointManager Checkpointing(DurableRun run)
    {
        RunIds.ThrowIfInvalid(run.RunId); // the engine's session id, by which the shared store finds the run's checkpoints
        return _checkpointing ??= CheckpointManager.CreateJson(new SessionCheckpointStore(_runs!), CheckpointJson);
    }

    private CheckpointManager? _checkpointing;

    private static readonly JsonSerializerOptions CheckpointJson = new(JsonSerializerDefaults.General);

    private sealed record Prepared(
        IReadOnlyDictionary<string, object?> Inputs,
        IReadOnlyDictionary<string, ModelSpec> Bindings,
        IReadOnlyList<ModelSpec> Specs,
        Dictionary<string, ModelEndpoint> Endpoints);

    private async Task<Prepared> PrepareAsync(
        WorkflowDefinition definition, IReadOnlyDictionary<string, string> rawInputs, IReadOnlyDictionary<string, string> rawBindings, CancellationToken cancellationToken)
    {
        var inputs = RunInputs.Resolve(definition, rawInputs);
        var bindings = _models.Resolve(definition, rawBindings);
        var specs = _models.ModelsFor(definition, rawBindings);
        await CheckCollectionsAsync(definition, cancellationToken).ConfigureAwait(false);
        var problems = await _gateway.CheckAsync(specs, cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));
        }

        var endpoints = new Dictionary<string, ModelEndpoint>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            endpoints[spec.Name] = await _gateway.OpenAsync(spec, cancellationToken).ConfigureAwait(false);
        }

        return new Prepared(inputs, bindings, specs, endpoints);
    }

    // Before any step runs: every collection a retrieve step or a used retrieve tool names must exist and be
    // searchable, reported where it is named.
    private async Task CheckCollectionsAsync(WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        var steps = definition.AllSteps().OfType<RetrieveStepDefinition>().ToList();
        var used = definition.AllSteps().OfType<AgentStepDefinition>().SelectMany(a => a.Tools).ToHashSet(StringComparer.Ordinal);
        var tools = definition.Tools.Where(t => t.Source is RetrieveToolSource && used.Contains(t.Name)).ToList();
        if (steps.Count == 0 && tools.Count == 0)
        {
            return;
        }

        if (Retriever is null)
        {
            throw new AgentFlowException(steps.Count > 0
                ? $"workflow '{definition.Name}' has retrieve step '{steps[0].Id}', and this host has no retrieval configured"
                : $"workflow '{definition.Name}' has retrieve tool '{tools[0].Name}', and this host has no retrieval configured");
        }

        var searched = steps.Select(s => (What: $"retrieve step '{s.Id}'", s.Collection, At: s.CollectionLocation))
            .Concat(tools.Select(t => (What: $"retrieve tool '{t.Name}'", ((RetrieveToolSource)t.Source).Collection, At: ((RetrieveToolSource)t.Source).CollectionLocation)))
            .ToList();
        var problems = await Retriever.CheckAsync([.. searched.Select(s => s.Collection).Distinct(StringComparer.Ordinal)], cancellationToken).ConfigureAwait(false);
        var diagnostics = searched
            .Where(s => problems.ContainsKey(s.Collection))
            .Select(s => new Diagnostics.Diagnostic(s.At, "AF0503", $"{s.What}: {problems[s.Collection]}", $"index documents first: agentflow index DIR --collection {s.Collection}, or declare it under collections: in agentflow.yaml"))
            .ToList();
        if (diagnostics.Count > 0)
        {
            throw new DefinitionException(diagnostics);
        }
    }

    private async Task<RunContext> CreateContextAsync(
        WorkflowDefinition definition, RunRecord record, Prepared prepared, RunReplay? replay, IReadOnlyDictionary<string, string> host, CancellationToken cancellationToken)
    {
        var conversation = await OpenConversationAsync(definition, prepared.Inputs, cancellationToken).ConfigureAwait(false);
        record.ConversationId = conversation?.Id;
        var endpoints = prepared.Endpoints;
        return new RunContext(
            record.RunId,
            prepared.Inputs,
            prepared.Bindings.ToDictionary(b => b.Key, b => new BoundModel(b.Key, b.Value.Name, endpoints[b.Value.Name].Client, endpoints[b.Value.Name].Tokens, b.Value.Price), StringComparer.Ordinal),
            prepared.Specs.ToDictionary(s => s.Name, s => new BoundModel(s.Name, s.Name, endpoints[s.Name].Client, endpoints[s.Name].Tokens, s.Price), StringComparer.Ordinal),
            _time,
            definition.Defaults,
            definition.Budget,
            conversation)
        {
            Replay = replay,
            Secrets = Secrets,
            Retriever = Retriever,
            WorkflowFile = definition.FilePath,
            RunChild = (child, ct) => RunChildAsync(child with { Host = host }, ct),
        };
    }

    private Task<ToolSet> OpenToolsAsync(WorkflowDefinition definition, string runId, Prepared prepared, CancellationToken cancellationToken) =>
        ToolSet.OpenAsync(definition, Providers, new ToolOpenContext(definition, runId, prepared.Inputs, _time), cancellationToken);

    private async Task SaveAsync(DurableRun durable, CancellationToken cancellationToken)
    {
        durable.Updated = _time.GetUtcNow();
        await _runs!.SaveAsync(durable, cancellationToken).ConfigureAwait(false);
    }

    private async Task SaveProgressAsync(DurableRun durable, StepRecord? step, CancellationToken cancellationToken)
    {
        durable.Updated = _time.GetUtcNow();
        await _runs!.SaveProgressAsync(durable, step, cancellationToken).ConfigureAwait(false);
    }

    // The conversation id is rendered once, from the inputs, when the run starts.
    private async Task<RunConversation?> OpenConversationAsync(WorkflowDefinition definition, IReadOnlyDictionary<string, object?> inputs, CancellationToken cancellationToken)
    {
        if (definition.Memory is not { } memory)
        {
            return null;
        }

        if (_memory is null)
        {
            throw new AgentFlowException($"workflow '{definition.Name}' uses memory, but this host has no conversation store configured");
        }

        var scope = new TemplateScope(inputs, new Dictionary<string, StepOutput>(), loopIteration: null);
        var id = (await LiquidTemplate.Compile(memory.Conversation).RenderAsync(scope, cancellationToken).ConfigureAwait(false)).Trim();
        return id.Length == 0
            ? throw new InputException([$"memory conversation '{memory.Conversation.Text}' rendered empty; pass the inputs it names"])
            : new RunConversation(id, _memory, memory.Ttl);
    }

    // Runs the engine until the workflow ends, fails, or parks at an approval nobody has decided yet; answers the
    // pending approval with the given decision or its due timeout. State is saved after every step and superstep.
    private async Task<RunRecord> DriveAsync(
        RunRecord record, DurableRun? durable, ApprovalAnswer? answer, IRunObserver? observer,
        Func<CancellationToken, ValueTask<StreamingRun>> start, CancellationToken cancellationToken)
    {
        var storeFailed = false;
        try
        {
            await using var run = await start(cancellationToken).ConfigureAwait(false);
            var gotOutput = false;
            while (true)
            {
                ExternalRequest? pending = null;
                await foreach (var evt in run.WatchStreamAsync(blockOnPendingRequest: false, cancellationToken).ConfigureAwait(false))
                {
                    switch (evt)
                    {
                        case AgentFlowWorkflowEvent { RunEvent: var runEvent }:
                            if (runEvent is StepStartedEvent started)
                            {
                                lock (record.Steps)
                                {
                                    record.Steps.Add(started.Step);
                                }
                            }

                            if (durable is not null && runEvent is StepStartedEvent or StepFinishedEvent)
                            {
                                var step = runEvent is StepStartedEvent s ? s.Step : ((StepFinishedEvent)runEvent).Step;
                                await SaveProgressAsync(durable, step, cancellationToken).ConfigureAwait(false);
                            }

                            observer?.OnEvent(runEvent);
                            break;

                        case SuperStepCompletedEvent { CompletionInfo.Checkpoint: { } checkpoint } when durable is not null:
                            durable.CheckpointId = checkpoint.CheckpointId;
                            lock (record.Steps)
                            {
                                durable.CheckpointSteps = record.Steps.Count;
                            }

                            await SaveProgressAsync(durable, step: null, cancellationToken).ConfigureAwait(false);
                            break;

                        case RequestInfoEvent info:
                            pending = info.Request;
                            break;

                        case WorkflowOutputEvent output when output.Is<RunOutputs>(out var outputs):
                            lock (record.Steps)
                            {
                                foreach (var (name, value) in outputs.Values)
                                {
                                    record.Outputs[name] = value;
                                }
                            }

                            gotOutput = true;
                            break;

                        case ExecutorFailedEvent failed:
                            Fail(record, failed.ExecutorId, failed.Data);
                            break;

                        case WorkflowErrorEvent { Exception: var exception } when durable is not null && StoreFailureIn(exception) is { } storeFailure:
                            // The engine's checkpoint store is the run store too.
                            storeFailed = true;
                            StopAtStoreFailure(record, storeFailure);
                            break;

                        case WorkflowErrorEvent error:
                            Fail(record, executorId: null, error.Exception);
                            break;
                    }

                    if (record.Error is not null)
                    {
                        break;
                    }
                }

                cancellationToken.ThrowIfCancellationRequested();
                if (record.Error is not null || gotOutput || pending is null || !pending.TryGetDataAs<ApprovalRequest>(out var asked))
                {
                    break;
                }

                var now = _time.GetUtcNow();
                ApprovalDecision? decision = asked.Deadline is { } deadline && deadline <= now
                    ? ApprovalDecision.OnTimeoutOf(asked, now)
                    : answer is { } a && a.StepId == asked.StepId ? new ApprovalDecision(a.Approved, a.DecidedBy, now, a.Comment) : null;
                if (decision is null)
                {
                    // Park: the pending request is in the engine's checkpoint; nothing stays in memory.
                    record.Status = RunStatus.Waiting;
                    record.Waiting = asked.ToWaiting();
                    LogRunParked(record.RunId, asked.StepId);
                    break;
                }

                answer = null;
                record.Waiting = null;
                LogApprovalDecided(record.RunId, asked.StepId, decision.Approved, decision.DecidedBy);
                await run.SendResponseAsync(pending.CreateResponse(decision)).ConfigureAwait(false);
            }

            if (record.Status != RunStatus.Waiting)
            {
                if (record.Error is null && !gotOutput)
                {
                    // The engine went idle without reaching the end: a definition/compiler mismatch, never user input.
                    record.Error = new RunError(null, "the workflow stopped before reaching its end");
                }

                record.Status = record.Error is null ? RunStatus.Succeeded : RunStatus.Failed;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            record.Status = RunStatus.Cancelled;
            record.Error = new RunError(record.Steps.LastOrDefault(s => s.Status == StepStatus.Running)?.Id, "the run was cancelled");
        }
        catch (RunStoreException ex) when (durable is not null)
        {
            // The run store stopped answering mid-run: the run cannot go on (nothing would survive a crash), but it
            // ends here, recorded with the step and the cause. The store still holds its last saved state, so the
            // run continues from there once the store is back.
            storeFailed = true;
            StopAtStoreFailure(record, ex);
        }

        if (record.Status != RunStatus.Waiting)
        {
            record.Ended = _time.GetUtcNow();
            LogRunFinished(record.RunId, record.Status, record.DurationMs ?? 0);
        }

        if (durable is not null && !storeFailed)
        {
            try
            {
                await SaveAsync(durable, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RunStoreException ex)
            {
                // The last save failed: the run ends as failed, resumable from the state saved before.
                StopAtStoreFailure(record, ex);
                record.Ended ??= _time.GetUtcNow();
            }
        }

        observer?.OnEvent(new RunFinishedEvent(record.RunId, record));
        return record;
    }

    private static RunStoreException? StoreFailureIn(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RunStoreException failure)
            {
                return failure;
            }

            if (e is AggregateException { InnerExceptions: [var single] })
            {
                return StoreFailureIn(single);
            }
        }

        return null;
    }

    private void StopAtStoreFailure(RunRecord record, RunStoreException failure)
    {
        var inFlight = record.Steps.LastOrDefault(s => s.Status == StepStatus.Running);
        foreach (var step in record.Steps.Where(s => s.Status == StepStatus.Running))
        {
            step.Status = StepStatus.Failed;
            step.Error = "interrupted: the run store stopped answering";
        }

        record.Status = RunStatus.Failed;
        record.Error = new RunError(inFlight?.Id ?? record.Error?.StepId,
            Secrets.Redact($"{failure.Message}; the run stopped here: continue it with `agentflow runs resume {record.RunId}` once the store is back"));
        LogRunStoreFailed(record.RunId, failure.Message);
    }

    private void Fail(RunRecord record, string? executorId, Exception? exception)
    {
        if (record.Error is not null)
        {
            return;
        }

        var stepFailure = Unwrap(exception);
        var stepId = stepFailure?.StepId ?? executorId?.Split('#')[0];
        var message = Secrets.Redact(stepFailure?.Reason ?? exception?.Message ?? "unknown engine error");
        record.Error = new RunError(stepId is null || stepId.StartsWith('$') ? null : stepId, message);
    }

    private static StepFailedException? Unwrap(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is StepFailedException failed)
            {
                return failed;
            }

            if (e is AggregateException { InnerExceptions: [var single] })
            {
                return Unwrap(single);
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} of workflow {Workflow} started")]
    private partial void LogRunStarted(string runId, string workflow);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} of workflow {Workflow} resumed from checkpoint {Checkpoint}")]
    private partial void LogRunResumed(string runId, string workflow, string checkpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} parked at approval {StepId}")]
    private partial void LogRunParked(string runId, string stepId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: approval {StepId} decided (approved: {Approved}) by {DecidedBy}")]
    private partial void LogApprovalDecided(string runId, string stepId, bool approved, string decidedBy);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} stopped: the run store failed: {Problem}")]
    private partial void LogRunStoreFailed(string runId, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: child run {ChildRunId} had already succeeded; its outputs are reused")]
    private partial void LogChildReused(string runId, string childRunId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} finished: {Status} in {DurationMs:F0} ms")]
    private partial void LogRunFinished(string runId, RunStatus status, double durationMs);
}
