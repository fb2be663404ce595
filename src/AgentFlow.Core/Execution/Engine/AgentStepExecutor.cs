using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using AgentFlow.Conversations;
using AgentFlow.Definitions;
using AgentFlow.Execution.Tools;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Extensions.AI;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// Runs an agent step: renders its prompts, streams the bound model's answer, records tokens and timings. Each
/// attempt is bounded by the step's timeout and failed attempts are retried with exponential backoff and jitter
/// (Polly); every attempt gets its own <see cref="StepRecord"/>.
/// </summary>
internal sealed class AgentStepExecutor : Executor<FlowState, FlowState>
{
    /// <summary>Used when a step sets no max_tokens.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>Most tool calls per attempt when a step with tools sets no max_tool_calls.</summary>
    public const int DefaultMaxToolCalls = 8;

    /// <summary>Response property naming the worker that answered (set by remote chat clients).</summary>
    public const string WorkerProperty = "agentflow.worker";

    /// <summary>Response property: milliseconds the request waited in its queue (set by remote chat clients).</summary>
    public const string QueuedMsProperty = "agentflow.queued_ms";

    /// <summary>Response property: milliseconds the model call took on the worker (set by remote chat clients).</summary>
    public const string ModelMsProperty = "agentflow.model_ms";

    /// <summary>
    /// Update property a remote chat client sets when the step was delivered again after its worker was lost mid-step
    /// (value: the lost worker). The lost delivery becomes a failed attempt in the record; the step continues.
    /// </summary>
    public const string RedeliveredFromProperty = "agentflow.redelivered_from";

    private readonly AgentStepDefinition _step;
    private readonly string? _loopId;
    private readonly RunContext _run;
    private readonly LiquidTemplate _prompt;
    private readonly LiquidTemplate? _system;
    private readonly TimeSpan _timeout;
    private readonly int _attempts;
    private readonly ResiliencePipeline _pipeline;

    // After a tool decision the parked attempt goes on under the step's timeout; it is not retried as such (a
    // failure runs the step again from its start, with its retry and fallback policy).
    private readonly ResiliencePipeline _continuation;

    private readonly BudgetDefinition? _budget;
    private readonly StructuredOutput? _structured;

    public AgentStepExecutor(AgentStepDefinition step, StepPolicy defaults, BudgetDefinition? budget, string? loopId, RunContext run)
        : base(step.Id)
    {
        _step = step;
        _budget = budget;
        _loopId = loopId;
        _run = run;
        _prompt = LiquidTemplate.Compile(step.Prompt);
        _system = step.System is null ? null : LiquidTemplate.Compile(step.System);
        _structured = step.Output is { } output ? new StructuredOutput(output, step.Id) : null;
        _timeout = step.Timeout ?? defaults.Timeout ?? StepPolicy.DefaultTimeout;
        var retry = step.Retry ?? defaults.Retry;
        _attempts = retry?.Attempts ?? 1;
        var builder = new ResiliencePipelineBuilder { TimeProvider = run.Time };
        if (retry is { Attempts: > 1 })
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = retry.Attempts - 1,
                Delay = retry.Backoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<AttemptFailedException>(),
            });
        }

        _pipeline = builder.AddTimeout(_timeout).Build();
        _continuation = new ResiliencePipelineBuilder { TimeProvider = run.Time }.AddTimeout(_timeout).Build();
    }

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var failures = new List<string>();
        if (message.Route == ToolApprovalRoutes.Continue(_step.Id))
        {
            // A person decided on a tool call this step parked at (in this process or an earlier one).
            var park = await context.ReadStateAsync<ToolPark>(ToolPark.StateKey, _step.Id, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"step '{_step.Id}' continues after a tool decision without its parked state (the checkpoint does not hold it)");
            if (_run.TakeCompleted(_step.Id, park.Iteration) is { } finished)
            {
                // Resumed run: the step already went on after the decision and succeeded, before the crash. Its record stands.
                return park.Flow.WithOutput(_step.Id, Output(finished));
            }

            if (park.Undecided is not null)
            {
                // The same answer made another call that needs a decision: park again before any call runs.
                return park.Flow with { Route = ToolApprovalRoutes.Park(_step.Id) };
            }

            try
            {
                var answer = await _continuation.ExecuteAsync(
                    async ct => await ContinueAsync(park, context, ct, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                return await FinishAsync(answer, park.Flow, context, cancellationToken).ConfigureAwait(false);
            }
            catch (AttemptFailedException failed)
            {
                failures.Add($"model '{park.Model}' failed after the tool decision: {failed.Message}; the step ran again from its start");
                message = park.Flow;
            }
        }

        var primary = _run.Models[_step.ModelAlias];
        var scope = _run.Scope(message, _loopId);
        var system = _system is null ? null : await _system.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        var prompt = await _prompt.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        if (_run.TakeCompleted(_step.Id, RunContext.IterationOf(message, _loopId)) is { } done)
        {
            // Resumed run: this step succeeded after the last checkpoint, before the crash. Its record stands.
            return message.WithOutput(_step.Id, Output(done));
        }

        if (_run.Replay is { } replay && replay.Outputs.TryGetValue(new ReplayKey(_step.Id, RunContext.IterationOf(message, _loopId)), out var recorded))
        {
            return await ReplayAsync(replay.FromRunId, recorded, primary, system, prompt, message, context, cancellationToken).ConfigureAwait(false);
        }

        // After a resume, numbering goes on from the attempts an earlier process recorded (the one in flight included).
        var attempts = new StrongBox<int>(_run.PriorAttempts(_step.Id, RunContext.IterationOf(message, _loopId)));

        // The bound model first, then each fallback in order; each gets the step's retry and timeout policy.
        foreach (var model in _step.Fallback.Select(name => _run.ModelsByName[name]).Prepend(primary))
        {
            var before = attempts.Value;
            var fallbackReason = failures.Count == 0 ? null : failures[^1];
            try
            {
                var answer = await _pipeline.ExecuteAsync(
                    async ct => await AttemptAsync(attempts, model, system, prompt, message, context, fallbackReason, ct, cancellationToken).ConfigureAwait(false),
                    cancellationToken).ConfigureAwait(false);
                return await FinishAsync(answer, message, context, cancellationToken).ConfigureAwait(false);
            }
            catch (AttemptFailedException failed)
            {
                var tries = attempts.Value - before == 1 ? string.Empty : $" after {attempts.Value - before} attempts";
                var who = model == primary ? $"model '{model.ModelName}' (alias '{_step.ModelAlias}')" : $"fallback model '{model.ModelName}'";
                failures.Add($"{who} failed{tries}: {failed.Message}");
            }
        }

        throw new StepFailedException(_step.Id, string.Join("; then ", failures));
    }

    // A replayed step: the recorded output of the same step execution in another run; no model call, no tokens.
    private async Task<FlowState> ReplayAsync(
        string fromRunId, RecordedOutput output, BoundModel model, string? system, string prompt, FlowState message, IWorkflowContext context, CancellationToken cancellationToken)
    {
        var record = new StepRecord
        {
            Id = _step.Id,
            Kind = "agent",
            ModelAlias = _step.ModelAlias,
            Model = output.Model ?? model.ModelName,
            Iteration = RunContext.IterationOf(message, _loopId),
            Started = _run.Time.GetUtcNow(),
            System = system,
            Prompt = prompt,
            ReplayedFrom = fromRunId,
            Detail = $"replayed from run {fromRunId}",
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
        record.Output = output.Text;
        record.Status = StepStatus.Succeeded;
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
        return message.WithOutput(_step.Id, Output(output.Text));
    }

    private async Task<Answer> AttemptAsync(
        StrongBox<int> attempts, BoundModel model, string? system, string prompt, FlowState message, IWorkflowContext context,
        string? fallbackReason, CancellationToken attemptToken, CancellationToken runToken)
    {
        var record = new StepRecord
        {
            Id = _step.Id,
            Kind = "agent",
            ModelAlias = _step.ModelAlias,
            Model = model.ModelName,
            Iteration = RunContext.IterationOf(message, _loopId),
            Attempt = ++attempts.Value,
            Started = _run.Time.GetUtcNow(),
            System = system,
            Prompt = prompt,
            Detail = fallbackReason is null ? null : $"fallback after: {fallbackReason}",
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
        var turn = new Turn(record, model, _run.Time.GetTimestamp(), new RoundUsage());
        return await ConverseAsync(
            turn, attempts, async ct => await BuildMessagesAsync(system, prompt, model, turn.Record, ct).ConfigureAwait(false),
            resumed: false, message, context, attemptToken, runToken).ConfigureAwait(false);
    }

    // The parked attempt goes on: each decision is recorded in its call, and the model gets the conversation so far
    // with the decisions; the function invocation runs approved calls (through the invoker) and tells the model of
    // refused ones, then the model goes on.
    private async Task<Answer> ContinueAsync(ToolPark park, IWorkflowContext context, CancellationToken attemptToken, CancellationToken runToken)
    {
        var model = _run.ModelsByName.GetValueOrDefault(park.Model) ?? _run.Models[_step.ModelAlias];
        var record = _run.TakeParked(_step.Id, park.Iteration, park.Attempt);
        var usage = new RoundUsage(park.InputTokens, park.OutputTokens);
        (int? Input, int? Output) spent = (park.InputTokens, park.OutputTokens);
        var attempts = new StrongBox<int>(Math.Max(park.Attempt, _run.PriorAttempts(_step.Id, park.Iteration)));
        if (record is null || record.Status != StepStatus.Running)
        {
            // The process continuing after the decision stopped mid-way: the decided calls go on as a new attempt
            // (the interrupted one stays in the record); an approved call may run again, like any interrupted step.
            record = new StepRecord
            {
                Id = _step.Id,
                Kind = "agent",
                ModelAlias = _step.ModelAlias,
                Model = model.ModelName,
                Iteration = park.Iteration,
                Attempt = ++attempts.Value,
                Started = _run.Time.GetUtcNow(),
                System = record?.System,
                Prompt = record?.Prompt,
                Detail = "continued after a tool decision; the attempt that ran it was interrupted",
            };
            await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
            usage = new RoundUsage();
            spent = (null, null);
        }

        foreach (var call in park.Calls.Where(c => c.DecidedBy is not null))
        {
            await RecordDecisionAsync(record, call, context, runToken).ConfigureAwait(false);
        }

        var conversation = ToolConversation.Read(park.Conversation);
        var requests = conversation.SelectMany(m => m.Contents).OfType<ToolApprovalRequestContent>().ToDictionary(r => r.RequestId, StringComparer.Ordinal);
        conversation.Add(new ChatMessage(ChatRole.User, [.. park.Calls.Select(c => (AIContent)requests[c.RequestId].CreateResponse(c.Approved ?? false, c.Reason))]));
        var turn = new Turn(record, model, _run.Time.GetTimestamp(), usage) { Spent = spent };

        return await ConverseAsync(turn, attempts, _ => Task.FromResult(conversation), resumed: true, park.Flow, context, attemptToken, runToken).ConfigureAwait(false);
    }

    // Streams the model's answer, round after round of tool calls, until it answers (or asks for calls a person must
    // approve: the attempt parks). Failures end the attempt with its record written; the retry policy decides next.
    private async Task<Answer> ConverseAsync(
        Turn turn, StrongBox<int> attempts, Func<CancellationToken, Task<List<ChatMessage>>> conversation, bool resumed, FlowState flow,
        IWorkflowContext context, CancellationToken attemptToken, CancellationToken runToken)
    {
        var text = new StringBuilder();
        var memory = _step.Memory;
        var store = _run.Conversation;
        var model = turn.Model;
        try
        {
            var messages = await conversation(attemptToken).ConfigureAwait(false);
            var options = ChatOptionsFor(turn.Record.Attempt, turn.Record.Iteration);
            var (client, invoker) = WithTools(model.Client, options, turn.Record, context);
            if (resumed)
            {
                RelaxToolMode(options);
            }

            while (true)
            {
                var updates = new List<ChatResponseUpdate>();
                await foreach (var update in client.GetStreamingResponseAsync(messages, options, attemptToken).ConfigureAwait(false))
                {
                    updates.Add(update);
                    if (update.Contents.Any(c => c is FunctionResultContent))
                    {
                        // Tool results went back to the model: what it says next is the answer (or its next call).
                        RecordRefusals(turn.Record, update);
                        text.Clear();
                        turn.Usage.EndRound();
                        continue;
                    }

                    if (update.AdditionalProperties?.TryGetValue(RedeliveredFromProperty, out var lost) == true)
                    {
                        turn.Record = await RecordRedeliveryAsync(turn.Record, ++attempts.Value, lost?.ToString(), text.ToString(), turn.Started, context, runToken).ConfigureAwait(false);
                        turn.Started = _run.Time.GetTimestamp();
                    }

                    if (!string.IsNullOrEmpty(update.Text))
                    {
                        text.Append(update.Text);
                        await RunContext.EmitAsync(context, new StepOutputChunkEvent(_run.RunId, _step.Id, update.Text), runToken).ConfigureAwait(false);
                    }

                    foreach (var reported in update.Contents.OfType<UsageContent>())
                    {
                        turn.Usage.Report(reported.Details);
                        (turn.Record.InputTokens, turn.Record.OutputTokens) = turn.Usage.Totals;
                    }

                    if (update.FinishReason is { } reason)
                    {
                        turn.Record.FinishReason = reason.Value;
                    }

                    // A remote model (a worker over the message bus) names the process that answered.
                    if (update.AdditionalProperties?.TryGetValue(WorkerProperty, out var worker) == true && worker is not null)
                    {
                        turn.Record.Worker = worker.ToString();
                    }

                    if (update.AdditionalProperties?.TryGetValue(QueuedMsProperty, out var queued) == true && queued is IConvertible q)
                    {
                        turn.Record.QueueWaitMs = q.ToDouble(System.Globalization.CultureInfo.InvariantCulture);
                    }

                    if (update.AdditionalProperties?.TryGetValue(ModelMsProperty, out var modelMs) == true && modelMs is IConvertible m)
                    {
                        turn.Record.ModelMs = m.ToDouble(System.Globalization.CultureInfo.InvariantCulture);
                    }
                }

                if (invoker?.Fatal is { } fatal)
                {
                    throw new ToolUnavailableException(fatal);
                }

                var requests = updates.SelectMany(u => u.Contents).OfType<ToolApprovalRequestContent>().ToList();
                if (requests.Count == 0)
                {
                    break;
                }

                // The model called a tool with approve: true. Calls that need no person (other tools of the same answer,
                // arguments the schema refuses) are decided here; the others park the run before anything runs.
                List<ChatMessage> sofar = [.. messages, .. updates.ToChatResponse().Messages];
                var (calls, exhausted) = await TriageAsync(turn.Record, requests, context, runToken).ConfigureAwait(false);
                turn.Usage.EndRound();
                text.Clear();
                if (calls.Any(c => c.Approved is null))
                {
                    turn.Record.LatencyMs += _run.Time.GetElapsedTime(turn.Started).TotalMilliseconds;
                    return new Answer(null, new ToolPark(
                        flow, model.ModelName, turn.Record.Attempt, turn.Record.Iteration, ToolConversation.Write(sofar), calls,
                        turn.Record.InputTokens, turn.Record.OutputTokens));
                }

                var byId = requests.ToDictionary(r => r.RequestId, StringComparer.Ordinal);
                messages = [.. sofar, new ChatMessage(ChatRole.User, [.. calls.Select(c => (AIContent)byId[c.RequestId].CreateResponse(c.Approved!.Value, c.Reason))])];
                RelaxToolMode(options);
                if (exhausted)
                {
                    // max_tool_calls reached: the next round offers no tools, so the model answers.
                    options.Tools = null;
                    options.ToolMode = null;
                }
            }

            // A structured answer that is not valid JSON under the schema fails the attempt: retry and fallback apply.
            _structured?.Check(text.ToString());
            if (memory is { Write: true } && store is not null)
            {
                var now = _run.Time.GetUtcNow();
                await store.Store.AppendTurnAsync(
                    store.Id,
                    new ConversationEntry("user", turn.Record.Prompt ?? string.Empty, _step.Id, _run.RunId, model.ModelName, turn.Record.Started),
                    new ConversationEntry("assistant", text.ToString(), _step.Id, _run.RunId, model.ModelName, now),
                    store.Ttl,
                    attemptToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!runToken.IsCancellationRequested)
        {
            // The run goes on (retry) or fails with this reason; the attempt's record says what happened.
            // A server may echo the request's credentials in its error body: scrubbed before anything records it.
            var record = turn.Record;
            var reason = ex is OperationCanceledException
                ? string.Create(CultureInfo.InvariantCulture, $"timed out after {_timeout.TotalSeconds:0.###} s")
                : _run.Secrets.Redact(ex.Message);
            record.LatencyMs += _run.Time.GetElapsedTime(turn.Started).TotalMilliseconds;
            record.Status = StepStatus.Failed;
            record.Error = record.Worker is null ? reason : $"{reason} (worker {record.Worker})";
            await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
            if (ex is ToolUnavailableException)
            {
                // A tool that cannot answer (a server that died) would fail every retry the same way.
                throw new StepFailedException(_step.Id, record.Error, ex);
            }

            throw new AttemptFailedException(record.Error, ex);
        }

        var done = turn.Record;
        done.LatencyMs += _run.Time.GetElapsedTime(turn.Started).TotalMilliseconds;
        done.Output = text.ToString();
        done.Status = StepStatus.Succeeded;
        done.CostUsd = model.Price?.CostOf(done.InputTokens ?? 0, done.OutputTokens ?? 0, done.LatencyMs);
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, done), runToken).ConfigureAwait(false);

        // A continued attempt's tokens before the park were counted when the run was restored: only the rest is new.
        var spent = turn.Spent.Input is null && turn.Spent.Output is null ? done : new StepRecord
        {
            Id = done.Id,
            Kind = done.Kind,
            Started = done.Started,
            InputTokens = (done.InputTokens ?? 0) - (turn.Spent.Input ?? 0),
            OutputTokens = (done.OutputTokens ?? 0) - (turn.Spent.Output ?? 0),
            CostUsd = done.CostUsd,
        };
        if (_run.Spend(spent, _budget) is { } exceeded)
        {
            // Not an attempt failure: neither retried nor handed to a fallback.
            throw new StepFailedException(_step.Id, exceeded + "; raise the budget in the workflow or shorten the run");
        }

        return new Answer(done.Output, null);
    }

    // The attempt answered (the step's output), or parked before a tool call that needs a person (the flow goes to
    // the step's ask executor; the parked state is in the engine's shared state, hence in the checkpoint).
    private async Task<FlowState> FinishAsync(Answer answer, FlowState flow, IWorkflowContext context, CancellationToken cancellationToken)
    {
        if (answer.Park is { } park)
        {
            await context.QueueStateUpdateAsync(ToolPark.StateKey, park, _step.Id, cancellationToken).ConfigureAwait(false);
            return flow with { Route = ToolApprovalRoutes.Park(_step.Id) };
        }

        return flow.WithOutput(_step.Id, Output(answer.Text ?? string.Empty));
    }

    // The calls of an answer that asked for approval: other tools' calls go ahead, arguments the tool's schema refuses
    // are refused (the model is told, nobody is asked), and the rest wait for a person, recorded as waiting.
    private async Task<(List<PendingToolCall> Calls, bool Exhausted)> TriageAsync(StepRecord record, List<ToolApprovalRequestContent> requests, IWorkflowContext context, CancellationToken cancellationToken)
    {
        var tools = _run.Tools.For(_step).ToDictionary(t => t.Function.Name, StringComparer.Ordinal);
        var maxCalls = _step.MaxToolCalls ?? DefaultMaxToolCalls;
        var calls = new List<PendingToolCall>();
        var exhausted = false;
        foreach (var request in requests)
        {
            var call = request.ToolCall as FunctionCallContent;
            var arguments = ToolArguments.ToJson(call?.Arguments ?? new Dictionary<string, object?>());
            var pending = new PendingToolCall(request.RequestId, call?.CallId ?? request.RequestId, call?.Name ?? "?", arguments.ToJsonString());
            if (call is null || !tools.TryGetValue(call.Name, out var tool) || !tool.Tool.Approve)
            {
                // Not a call a person approves (the function invocation asks about every call of an answer once one needs it).
                calls.Add(pending with { Approved = true });
                continue;
            }

            var callRecord = WaitingCall(pending, tool.Tool.Name);
            int made;
            lock (record)
            {
                made = (record.ToolCalls?.Count ?? 0) + calls.Count(c => c.Approved != false);
            }

            if (made >= maxCalls)
            {
                // Over max_tool_calls nobody is asked (as the invoker refuses such calls); the model must answer now.
                var reason = $"the step allows at most {maxCalls} tool calls (max_tool_calls); answer with what you have";
                exhausted = true;
                callRecord.Status = "refused";
                callRecord.Error = reason;
                callRecord.Approval = null;
                callRecord.SetResult("Error: " + reason);
                calls.Add(pending with { Approved = false, Reason = reason });
            }
            else if (ToolInvoker.Validate(tool.Function, arguments) is { } invalid)
            {
                var reason = $"the arguments do not match the tool's parameters: {invalid}; nothing was run";
                callRecord.Status = "refused";
                callRecord.Error = reason;
                callRecord.Approval = null;
                callRecord.SetResult("Error: " + reason);
                calls.Add(pending with { Approved = false, Reason = reason });
            }
            else
            {
                calls.Add(pending);
            }

            lock (record)
            {
                (record.ToolCalls ??= []).Add(callRecord);
            }

            await RunContext.EmitAsync(context, new ToolCallStartedEvent(_run.RunId, record.Id, callRecord), cancellationToken).ConfigureAwait(false);
            if (callRecord.Status == "refused")
            {
                await RunContext.EmitAsync(context, new ToolCallFinishedEvent(_run.RunId, record.Id, callRecord), cancellationToken).ConfigureAwait(false);
            }
        }

        return (calls, exhausted);
    }

    private ToolCallRecord WaitingCall(PendingToolCall pending, string? tool) => new()
    {
        Name = pending.Name,
        Tool = tool,
        CallId = pending.CallId,
        Arguments = pending.Arguments,
        Started = _run.Time.GetUtcNow(),
        Status = "waiting",
        Approval = new ApprovalRecord { Message = $"Allow step '{_step.Id}' to call tool '{pending.Name}' with these arguments?", Show = pending.Arguments },
    };

    // A person's decision goes into the call's record: approved calls run next (the invoker takes the record over),
    // refused ones are done (the model is told; the result is what it was told).
    private async Task RecordDecisionAsync(StepRecord record, PendingToolCall decided, IWorkflowContext context, CancellationToken cancellationToken)
    {
        ToolCallRecord? call;
        lock (record)
        {
            call = record.ToolCalls?.LastOrDefault(c => c.CallId == decided.CallId && c.Status == "waiting");
        }

        if (call is null)
        {
            // A new attempt after an interrupted continuation: the waiting call is recorded again, with its decision.
            call = WaitingCall(decided, _run.Tools.For(_step).FirstOrDefault(t => t.Function.Name == decided.Name)?.Tool.Name);
            lock (record)
            {
                (record.ToolCalls ??= []).Add(call);
            }
        }

        call.Approval ??= new ApprovalRecord { Message = string.Empty };
        call.Approval.Decision = decided.Approved == true ? "approved" : "rejected";
        call.Approval.DecidedBy = decided.DecidedBy;
        call.Approval.DecidedAt = decided.DecidedAt;
        call.Approval.Comment = decided.Comment;
        if (decided.Approved == true)
        {
            call.Status = "approved";
            return;
        }

        call.Status = "refused";
        call.Error = decided.Reason;
        call.SetResult("Error: " + decided.Reason);
        await RunContext.EmitAsync(context, new ToolCallFinishedEvent(_run.RunId, record.Id, call), cancellationToken).ConfigureAwait(false);
    }

    // What the function invocation told the model about a refused call is its recorded result.
    private static void RecordRefusals(StepRecord record, ChatResponseUpdate update)
    {
        foreach (var result in update.Contents.OfType<FunctionResultContent>())
        {
            ToolCallRecord? call;
            lock (record)
            {
                call = record.ToolCalls?.LastOrDefault(c => c.CallId == result.CallId && c.Status == "refused" && c.Approval is not null);
            }

            if (call is not null && result.Result?.ToString() is { Length: > 0 } told)
            {
                call.SetResult(told);
            }
        }
    }

    // The forced call (tool_choice: required or a tool name) was made: after it, the model may answer.
    private static void RelaxToolMode(ChatOptions options)
    {
        if (options.ToolMode is RequiredChatToolMode)
        {
            options.ToolMode = ChatToolMode.Auto;
        }
    }

    /// <summary>An attempt's answer, or where it parked.</summary>
    private sealed record Answer(string? Text, ToolPark? Park);

    /// <summary>The attempt being run: its record (a redelivery replaces it), model, clock and tokens.</summary>
    private sealed class Turn(StepRecord record, BoundModel model, long started, RoundUsage usage)
    {
        public StepRecord Record { get; set; } = record;

        public BoundModel Model { get; } = model;

        public long Started { get; set; } = started;

        public RoundUsage Usage { get; } = usage;

        /// <summary>Tokens of a continued attempt that the run already counted (before it parked).</summary>
        public (int? Input, int? Output) Spent { get; set; }
    }

    // System message, then the conversation window (steps that read memory), then the prompt. Inside the attempt:
    // a store that is down fails the attempt, and the retry policy applies.
    private async Task<List<ChatMessage>> BuildMessagesAsync(string? system, string prompt, BoundModel model, StepRecord record, CancellationToken cancellationToken)
    {
        List<ChatMessage> messages = system is null ? [] : [new(ChatRole.System, system)];
        if (_step.Memory is { Read: true } memory && _run.Conversation is { } conversation)
        {
            if (memory.WindowTokens is not null && model.Tokens is null)
            {
                throw new AgentFlowException($"a memory window in tokens needs the tokenizer of model '{model.ModelName}', which this process does not have (the model runs on a remote worker); use window: {{ messages: N }}");
            }

            // A message window reads only its tail: turns are stored whole (user, assistant), so the newest even number
            // of messages covering the window holds every turn the window can keep.
            var history = memory.WindowTokens is null && memory.WindowMessages is { } most
                ? await conversation.Store.ReadLastAsync(conversation.Id, Math.Max(2, most + (most % 2)), cancellationToken).ConfigureAwait(false)
                : await conversation.Store.ReadAsync(conversation.Id, cancellationToken).ConfigureAwait(false);
            var window = ConversationWindow.Select(history, memory.WindowMessages, memory.WindowTokens, model.Tokens is { } counter ? counter.CountTokens : null);
            messages.AddRange(window.Select(m => new ChatMessage(m.Role == "assistant" ? ChatRole.Assistant : ChatRole.User, m.Content)));
            record.MemoryMessages = window.Count;
        }

        messages.Add(new ChatMessage(ChatRole.User, prompt));
        return messages;
    }

    // A step with tools: Microsoft.Extensions.AI's function invocation runs the loop (each call through the invoker,
    // which validates, records and enforces max_tool_calls); after max_tool_calls rounds it offers no tools, so the
    // model must answer.
    private (IChatClient Client, ToolInvoker? Invoker) WithTools(IChatClient client, ChatOptions options, StepRecord record, IWorkflowContext context)
    {
        if (_step.Tools.Count == 0)
        {
            return (client, null);
        }

        var tools = _run.Tools.For(_step);
        var maxCalls = _step.MaxToolCalls ?? DefaultMaxToolCalls;
        var invoker = new ToolInvoker(tools, record, _run, context, maxCalls, _run.Replay);

        // approve: true — the function invocation hands the call back as an approval request instead of running it
        // (the step parks). A replay never asks: the recorded decision and result are reused.
        options.Tools = [.. tools.Select(t => t.Tool.Approve && _run.Replay is null ? new ApprovalRequiredAIFunction(t.Function) : (AITool)t.Function)];
        options.ToolMode = _step.ToolChoice switch
        {
            null or { Mode: "auto" } => ChatToolMode.Auto,
            { Mode: "required" } => ChatToolMode.RequireAny,
            { Mode: "none" } => ChatToolMode.None,
            { ToolName: { } name } when tools.Any(t => t.Function.Name == name) => ChatToolMode.RequireSpecific(name),
            { ToolName: var name } => throw new ToolUnavailableException($"tool_choice '{name}' names no function the step's tools offer (offered: {string.Join(", ", tools.Select(t => t.Function.Name))})"),
        };

        // Not disposed: disposing a delegating client would dispose the model's shared client.
#pragma warning disable CA2000
        var invoking = new FunctionInvokingChatClient(client)
#pragma warning restore CA2000
        {
            FunctionInvoker = invoker.InvokeAsync,
            MaximumIterationsPerRequest = maxCalls,
            MaximumConsecutiveErrorsPerRequest = maxCalls,
            AllowConcurrentInvocation = false,
            IncludeDetailedErrors = true,
        };
        return (invoking, invoker);
    }

    /// <summary>Tokens over the model rounds of a tool loop: each round reports its own usage.</summary>
    private sealed class RoundUsage(int? input = null, int? output = null)
    {
        // A continued attempt starts from the tokens it had used when it parked.
        private long _input = input ?? 0;
        private long _output = output ?? 0;
        private long? _roundInput;
        private long? _roundOutput;

        public (int? Input, int? Output) Totals =>
            _roundInput is null && _roundOutput is null && _input == 0 && _output == 0
                ? (null, null)
                : ((int)(_input + (_roundInput ?? 0)), (int)(_output + (_roundOutput ?? 0)));

        public void Report(UsageDetails details)
        {
            _roundInput = details.InputTokenCount ?? _roundInput;
            _roundOutput = details.OutputTokenCount ?? _roundOutput;
        }

        public void EndRound()
        {
            _input += _roundInput ?? 0;
            _output += _roundOutput ?? 0;
            (_roundInput, _roundOutput) = (null, null);
        }
    }

    private StepOutput Output(string text) => _structured is null ? StepOutput.OfText(text) : StepOutput.OfJson(text);

    private ChatOptions ChatOptionsFor(int attempt, int? iteration) => new()
    {
        MaxOutputTokens = _step.MaxTokens ?? DefaultMaxTokens,
        Temperature = _step.Temperature,
        TopP = _step.TopP,
        Seed = _step.Seed,
        StopSequences = _step.Stop.Count > 0 ? [.. _step.Stop] : null,
        ResponseFormat = _structured?.Format,
        AdditionalProperties = new()
        {
            ["agentflow.run_id"] = _run.RunId,
            ["agentflow.step_id"] = _step.Id,
            ["agentflow.attempt"] = attempt,
            // One key per step attempt: a step re-run after a resume is a new attempt, never a duplicate of the old one.
            ["agentflow.idempotency_key"] = $"{_run.RunId}/{_step.Id}/{iteration ?? 0}/{attempt}",
            ["agentflow.timeout"] = _timeout,
        },
    };

    // Closes the lost delivery's record as a failed attempt and opens the next attempt's record (same prompt).
    private async Task<StepRecord> RecordRedeliveryAsync(StepRecord lost, int attempt, string? worker, string textSoFar, long started, IWorkflowContext context, CancellationToken runToken)
    {
        lost.Worker = worker ?? lost.Worker;
        lost.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        lost.Output = textSoFar;
        lost.Status = StepStatus.Failed;
        lost.Error = lost.Worker is null
            ? "a worker was lost mid-step before it announced the step (the broker flagged the next delivery as redelivered); the step was delivered again to another worker"
            : $"worker {lost.Worker} was lost mid-step; the step was delivered again to another worker";
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, lost), runToken).ConfigureAwait(false);
        var next = new StepRecord
        {
            Id = lost.Id,
            Kind = lost.Kind,
            ModelAlias = lost.ModelAlias,
            Model = lost.Model,
            Iteration = lost.Iteration,
            Attempt = attempt,
            Started = _run.Time.GetUtcNow(),
            System = lost.System,
            Prompt = lost.Prompt,
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, next), runToken).ConfigureAwait(false);
        return next;
    }

    /// <summary>One attempt failed (its record is already written); the retry strategy decides what is next.</summary>
    private sealed class AttemptFailedException(string message, Exception inner) : Exception(message, inner);
}
