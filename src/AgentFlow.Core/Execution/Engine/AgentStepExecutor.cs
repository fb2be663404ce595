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
    }

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
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
        var failures = new List<string>();

        // The bound model first, then each fallback in order; each gets the step's retry and timeout policy.
        foreach (var model in _step.Fallback.Select(name => _run.ModelsByName[name]).Prepend(primary))
        {
            var before = attempts.Value;
            var fallbackReason = failures.Count == 0 ? null : failures[^1];
            try
            {
                var output = await _pipeline.ExecuteAsync(
                    async ct => await AttemptAsync(attempts, model, system, prompt, message, context, fallbackReason, ct, cancellationToken).ConfigureAwait(false),
                    cancellationToken).ConfigureAwait(false);
                return message.WithOutput(_step.Id, Output(output));
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

    private async Task<string> AttemptAsync(
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

        var started = _run.Time.GetTimestamp();
        var text = new StringBuilder();
        var memory = _step.Memory;
        var conversation = _run.Conversation;
        try
        {
            var messages = await BuildMessagesAsync(system, prompt, model, record, attemptToken).ConfigureAwait(false);
            var options = ChatOptionsFor(record.Attempt, record.Iteration);
            var (client, invoker) = WithTools(model.Client, options, record, context);
            var usage = new RoundUsage();
            await foreach (var update in client.GetStreamingResponseAsync(messages, options, attemptToken).ConfigureAwait(false))
            {
                if (update.Contents.Any(c => c is FunctionResultContent))
                {
                    // Tool results went back to the model: what it says next is the answer (or its next call).
                    text.Clear();
                    usage.EndRound();
                    continue;
                }

                if (update.AdditionalProperties?.TryGetValue(RedeliveredFromProperty, out var lost) == true)
                {
                    record = await RecordRedeliveryAsync(record, ++attempts.Value, lost?.ToString(), text.ToString(), started, context, runToken).ConfigureAwait(false);
                    started = _run.Time.GetTimestamp();
                }

                if (!string.IsNullOrEmpty(update.Text))
                {
                    text.Append(update.Text);
                    await RunContext.EmitAsync(context, new StepOutputChunkEvent(_run.RunId, _step.Id, update.Text), runToken).ConfigureAwait(false);
                }

                foreach (var reported in update.Contents.OfType<UsageContent>())
                {
                    usage.Report(reported.Details);
                    (record.InputTokens, record.OutputTokens) = usage.Totals;
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

            if (invoker?.Fatal is { } fatal)
            {
                throw new ToolUnavailableException(fatal);
            }

            // A structured answer that is not valid JSON under the schema fails the attempt: retry and fallback apply.
            _structured?.Check(text.ToString());
            if (memory is { Write: true } && conversation is not null)
            {
                var now = _run.Time.GetUtcNow();
                await conversation.Store.AppendTurnAsync(
                    conversation.Id,
                    new ConversationEntry("user", prompt, _step.Id, _run.RunId, model.ModelName, record.Started),
                    new ConversationEntry("assistant", text.ToString(), _step.Id, _run.RunId, model.ModelName, now),
                    conversation.Ttl,
                    attemptToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!runToken.IsCancellationRequested)
        {
            // The run goes on (retry) or fails with this reason; the attempt's record says what happened.
            // A server may echo the request's credentials in its error body: scrubbed before anything records it.
            var reason = ex is OperationCanceledException
                ? string.Create(CultureInfo.InvariantCulture, $"timed out after {_timeout.TotalSeconds:0.###} s")
                : _run.Secrets.Redact(ex.Message);
            record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
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

        record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        record.Output = text.ToString();
        record.Status = StepStatus.Succeeded;
        record.CostUsd = model.Price?.CostOf(record.InputTokens ?? 0, record.OutputTokens ?? 0, record.LatencyMs);
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
        if (_run.Spend(record, _budget) is { } exceeded)
        {
            // Not an attempt failure: neither retried nor handed to a fallback.
            throw new StepFailedException(_step.Id, exceeded + "; raise the budget in the workflow or shorten the run");
        }
        return record.Output;
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
        options.Tools = [.. tools.Select(t => t.Function)];
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
    private sealed class RoundUsage
    {
        private long _input;
        private long _output;
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
