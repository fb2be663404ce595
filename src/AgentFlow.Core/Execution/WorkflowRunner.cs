using AgentFlow.Conversations;
using AgentFlow.Definitions;
using AgentFlow.Execution.Engine;
using AgentFlow.Models;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;
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

    /// <summary>Recorded agent step outputs to reuse instead of calling models (replays); null runs every step live.</summary>
    public RunReplay? Replay { get; init; }
}

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
    {
        _memory = memory;
        _models = models ?? throw new ArgumentNullException(nameof(models));
        _gateway = gateway ?? throw new ArgumentNullException(nameof(gateway));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>
    /// Runs <paramref name="request"/> to its end. Bad inputs or bindings throw before any step runs; a failing step
    /// does not throw: the returned record has status <see cref="RunStatus.Failed"/> and names the step.
    /// </summary>
    /// <exception cref="InputException">Inputs do not match the declaration.</exception>
    /// <exception cref="ModelConfigurationException">An alias or model cannot be used.</exception>
    public async Task<RunRecord> RunAsync(RunRequest request, IRunObserver? observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var definition = request.Definition;
        var inputs = RunInputs.Resolve(definition, request.Inputs);
        var bindings = _models.Resolve(definition, request.Bindings);
        var specs = _models.ModelsFor(definition, request.Bindings);
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

        var record = new RunRecord
        {
            RunId = request.RunId ?? Guid.NewGuid().ToString("N"),
            Workflow = definition.Name,
            WorkflowVersion = definition.Version,
            DefinitionSha256 = definition.Sha256,
            Started = _time.GetUtcNow(),
            Inputs = RunInputs.ToJson(inputs),
            Bindings = bindings.ToDictionary(b => b.Key, b => b.Value.Name, StringComparer.Ordinal),
            Models = endpoints.ToDictionary(e => e.Key, e => e.Value.Info, StringComparer.Ordinal),
        };

        var conversation = await OpenConversationAsync(definition, inputs, cancellationToken).ConfigureAwait(false);
        record.ConversationId = conversation?.Id;
        var context = new RunContext(
            record.RunId,
            inputs,
            bindings.ToDictionary(b => b.Key, b => new BoundModel(b.Key, b.Value.Name, endpoints[b.Value.Name].Client, endpoints[b.Value.Name].Tokens, b.Value.Price), StringComparer.Ordinal),
            specs.ToDictionary(s => s.Name, s => new BoundModel(s.Name, s.Name, endpoints[s.Name].Client, endpoints[s.Name].Tokens, s.Price), StringComparer.Ordinal),
            _time,
            definition.Defaults,
            definition.Budget,
            conversation) { Replay = request.Replay };
        var workflow = WorkflowCompiler.Compile(definition, context);

        LogRunStarted(record.RunId, definition.Name);
        observer?.OnEvent(new RunStartedEvent(record.RunId, record));
        try
        {
            await ExecuteAsync(workflow, record, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            record.Status = RunStatus.Cancelled;
            record.Error = new RunError(record.Steps.LastOrDefault(s => s.Status == StepStatus.Running)?.Id, "the run was cancelled");
        }

        record.Ended = _time.GetUtcNow();
        LogRunFinished(record.RunId, record.Status, record.DurationMs ?? 0);
        observer?.OnEvent(new RunFinishedEvent(record.RunId, record));
        return record;
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

    private static async Task ExecuteAsync(Workflow workflow, RunRecord record, IRunObserver? observer, CancellationToken cancellationToken)
    {
        await using var run = await InProcessExecution
            .RunStreamingAsync(workflow, FlowState.Initial, record.RunId, cancellationToken)
            .ConfigureAwait(false);
        var gotOutput = false;
        await foreach (var evt in run.WatchStreamAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (evt)
            {
                case AgentFlowWorkflowEvent { RunEvent: var runEvent }:
                    if (runEvent is StepStartedEvent started)
                    {
                        record.Steps.Add(started.Step);
                    }

                    observer?.OnEvent(runEvent);
                    break;

                case WorkflowOutputEvent output when output.Is<RunOutputs>(out var outputs):
                    foreach (var (name, value) in outputs.Values)
                    {
                        record.Outputs[name] = value;
                    }

                    gotOutput = true;
                    break;

                case ExecutorFailedEvent failed:
                    Fail(record, failed.ExecutorId, failed.Data);
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
        if (record.Error is null && !gotOutput)
        {
            // The engine went idle without reaching the end: a definition/compiler mismatch, never user input.
            record.Error = new RunError(null, "the workflow stopped before reaching its end");
        }

        record.Status = record.Error is null ? RunStatus.Succeeded : RunStatus.Failed;
    }

    private static void Fail(RunRecord record, string? executorId, Exception? exception)
    {
        if (record.Error is not null)
        {
            return;
        }

        var stepFailure = Unwrap(exception);
        var stepId = stepFailure?.StepId ?? executorId?.Split('#')[0];
        var message = stepFailure?.Reason ?? exception?.Message ?? "unknown engine error";
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} finished: {Status} in {DurationMs:F0} ms")]
    private partial void LogRunFinished(string runId, RunStatus status, double durationMs);
}
