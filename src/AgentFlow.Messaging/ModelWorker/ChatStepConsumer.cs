using System.Diagnostics;
using System.Text;
using AgentFlow.Messaging.Contracts;
using MassTransit;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// Answers the steps of one model: announces a step that runs longer than <see cref="StartedDelay"/>
/// (<see cref="ChatStepStarted"/>), streams the model's text back as <see cref="ChatStepChunk"/> while it generates,
/// then responds with <see cref="ChatStepResponse"/> (or <see cref="ChatStepFault"/> when the model fails). A malformed
/// request throws <see cref="InvalidChatStepRequestException"/>, which MassTransit moves to the queue's <c>_error</c>
/// queue (and reports to the requester as a fault). A step cancelled by a worker shutdown throws
/// <see cref="OperationCanceledException"/> on the consume token, which MassTransit returns to the queue.
/// </summary>
internal sealed class ChatStepConsumer(
    string model,
    string workerId,
    ModelClientCache clients,
    TimeProvider time,
    ILogger logger) : IConsumer<ChatStepRequest>
{
    public async Task Consume(ConsumeContext<ChatStepRequest> context)
    {
        var request = context.Message;
        var problem = Check(request);
        if (problem is not null)
        {
            MessagingLog.RequestRejected(logger, workerId, model, context.MessageId, problem);
            throw new InvalidChatStepRequestException(problem);
        }

        var now = time.GetUtcNow();
        var queuedMs = context.SentTime is { } sent ? Math.Max(0, (now - new DateTimeOffset(sent, TimeSpan.Zero)).TotalMilliseconds) : 0;
        if (now >= request.Deadline)
        {
            MessagingLog.RequestExpired(logger, workerId, model, request.RequestId, request.RunId, request.StepId, queuedMs);
            return;
        }

        var deliveryId = NewId.NextGuid();
        var replyTo = context.ResponseAddress is { } address ? await context.GetSendEndpoint(address).ConfigureAwait(false) : null;
        // Who has the step is announced once the model has run for StartedDelay: a step answered sooner needs no
        // notice (the answer names the worker), and a longer one is announced without waiting for the broker first.
        // A redelivered step is announced before the model starts: the worker that had it may have stopped before
        // its own notice, and the requester records that attempt from this one.
        var redelivered = context.ReceiveContext.Redelivered;
        var notice = new ChatStepStarted(request.RequestId, workerId, queuedMs, deliveryId) { Redelivered = redelivered };
        using var answered = new CancellationTokenSource();
        Task started;
        if (replyTo is null)
        {
            started = Task.CompletedTask;
        }
        else if (redelivered)
        {
            await replyTo.Send(notice, context.CancellationToken).ConfigureAwait(false);
            started = Task.CompletedTask;
        }
        else
        {
            started = AnnounceAsync(replyTo, notice, answered.Token, context.CancellationToken);
        }

        using var deadline = new CancellationTokenSource(request.Deadline - now, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, deadline.Token);
        var token = linked.Token;
        MessagingLog.StepStarted(logger, workerId, model, request.RequestId, request.RunId, request.StepId, request.Attempt, queuedMs);
        var span = MessagingTelemetry.StartModelCall(request, workerId, queuedMs);

        var clock = Stopwatch.StartNew();
        var text = new StringBuilder();
        var pump = new ChunkPump(replyTo, request.RequestId, workerId, deliveryId, time, token);
        long? inputTokens = null;
        long? outputTokens = null;
        string? finishReason = null;
        var toolCalls = new List<ChatStepToolCall>();
        try
        {
            var client = await clients.GetAsync(model, token).ConfigureAwait(false);
            var updates = client.GetStreamingResponseAsync(ToMessages(request), ToOptions(request), token).GetAsyncEnumerator(token);
            await using var _ = updates.ConfigureAwait(false);
            while (true)
            {
                var next = updates.MoveNextAsync();
                // Not ready: the model is working on its next token, and the requester gets what it has so far.
                if (!(next.IsCompleted ? next.Result : await pump.PauseAsync(next).ConfigureAwait(false)))
                {
                    break;
                }

                var update = updates.Current;
                var chunk = update.Text;
                if (!string.IsNullOrEmpty(chunk))
                {
                    text.Append(chunk);
                    pump.Add(chunk);
                }

                foreach (var usage in update.Contents.OfType<UsageContent>())
                {
                    inputTokens = usage.Details.InputTokenCount ?? inputTokens;
                    outputTokens = usage.Details.OutputTokenCount ?? outputTokens;
                }

                if (update.FinishReason is { } reason)
                {
                    finishReason = reason.Value;
                }

                // The worker only generates: the calls go back to the orchestrator, which runs them.
                toolCalls.AddRange(update.Contents.OfType<FunctionCallContent>().Select(Tools.ToolWire.ToWire));
            }

            await pump.CompleteAsync().ConfigureAwait(false);
            await answered.CancelAsync().ConfigureAwait(false);
            await started.ConfigureAwait(false); // a notice already on its way arrives before the answer
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // Worker shutting down past its grace period: MassTransit puts the message back on the queue.
            MessagingLog.StepRequeued(logger, workerId, model, request.RequestId, clock.Elapsed.TotalMilliseconds);
            MessagingTelemetry.EndModelCall(span, inputTokens, outputTokens, finishReason, "the worker stopped; the step went back to the queue");
            throw;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            MessagingLog.StepDeadlinePassed(logger, workerId, model, request.RequestId, request.RunId, request.StepId, clock.Elapsed.TotalMilliseconds);
            MessagingTelemetry.EndModelCall(span, inputTokens, outputTokens, finishReason, "the requester's deadline passed");
            return;
        }
        catch (Exception ex)
        {
            MessagingLog.ModelFailed(logger, ex, workerId, model, request.RequestId, request.RunId, request.StepId);
            MessagingTelemetry.EndModelCall(span, inputTokens, outputTokens, finishReason, ex.Message);
            if (context.ResponseAddress is not null)
            {
                await context.RespondAsync(new ChatStepFault(request.RequestId, model, workerId, ex.Message, ex.GetType().Name)).ConfigureAwait(false);
            }

            return;
        }
        finally
        {
            // However the step ended, a notice not yet sent is not sent after its answer.
            await answered.CancelAsync().ConfigureAwait(false);
        }

        var modelMs = clock.Elapsed.TotalMilliseconds;
        MessagingLog.StepFinished(logger, workerId, model, request.RequestId, inputTokens, outputTokens, finishReason, modelMs, pump.Count);
        MessagingTelemetry.EndModelCall(span, inputTokens, outputTokens, finishReason, error: null);
        if (context.ResponseAddress is not null)
        {
            await context.RespondAsync(new ChatStepResponse(
                request.RequestId, model, text.ToString(), inputTokens, outputTokens, finishReason, workerId, queuedMs, modelMs, pump.Count, deliveryId)
            {
                ToolCalls = toolCalls.Count == 0 ? null : toolCalls,
                Redelivered = redelivered,
            }).ConfigureAwait(false);
        }
    }

    /// <summary>How long a step runs before its worker announces it (<see cref="ChatStepStarted"/>): 50 ms.</summary>
    public static readonly TimeSpan StartedDelay = TimeSpan.FromMilliseconds(50);

    private async Task AnnounceAsync(ISendEndpoint replyTo, ChatStepStarted notice, CancellationToken answered, CancellationToken cancellationToken)
    {
        // Awaited without throwing: nearly every step is answered within the delay, and a TaskCanceledException per
        // step was most of the exception handling in a profile of the in-memory bus.
        await Task.Delay(StartedDelay, time, answered).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (answered.IsCancellationRequested)
        {
            return;
        }

        await replyTo.Send(notice, cancellationToken).ConfigureAwait(false);
    }

    private string? Check(ChatStepRequest? request)
    {
        if (request is null)
        {
            return "the message has no body";
        }

        if (request.RequestId == Guid.Empty)
        {
            return "RequestId is empty";
        }

        if (!string.Equals(request.Model, model, StringComparison.Ordinal))
        {
            return $"request for model '{request.Model}' arrived at the queue of model '{model}'";
        }

        if (request.Messages is null || request.Messages.Count == 0)
        {
            return "the request has no messages";
        }

        if (request.Messages.Any(m => m is null || string.IsNullOrWhiteSpace(m.Role) || m.Text is null))
        {
            return "every message needs a role and a text";
        }

        if (request.Sampling is null)
        {
            return "the request has no sampling settings";
        }

        return request.Sampling.MaxTokens is < 1 ? "max_tokens must be at least 1" : null;
    }

    private static List<ChatMessage> ToMessages(ChatStepRequest request) =>
        [.. request.Messages.Select(Tools.ToolWire.FromWire)];

    private static ChatOptions ToOptions(ChatStepRequest request)
    {
        var s = request.Sampling;
        var options = new ChatOptions
        {
            MaxOutputTokens = s.MaxTokens,
            Temperature = s.Temperature,
            TopP = s.TopP,
            Seed = s.Seed,
            StopSequences = s.Stop is { Count: > 0 } stop ? [.. stop] : null,
            ResponseFormat = ToResponseFormat(s.ResponseSchema),
        };
        Tools.ToolWire.Apply(request, options);
        return options;
    }

    private static ChatResponseFormatJson? ToResponseFormat(string? schema)
    {
        if (schema is null)
        {
            return null;
        }

        if (schema == "true")
        {
            return ChatResponseFormat.Json;
        }

        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(schema);
            return ChatResponseFormat.ForJsonSchema(document.RootElement.Clone(), "response");
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new InvalidChatStepRequestException($"the request's response schema is not JSON ({ex.Message})");
        }
    }
}

/// <summary>A request a worker cannot process whatever it retries (wrong queue, no messages, ...): it goes to the error queue.</summary>
public sealed class InvalidChatStepRequestException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public InvalidChatStepRequestException(string message) : base(message) { }
}
