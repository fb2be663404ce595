using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using AgentFlow.Messaging.Contracts;
using MassTransit;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// An <see cref="IChatClient"/> for one model whose calls are answered by workers: each call is a
/// <see cref="ChatStepRequest"/> sent to the queue <c>agentflow.model.NAME</c>; text streams back while the worker
/// generates, and the last update carries <see cref="UsageContent"/>, the finish reason and
/// <c>AdditionalProperties["agentflow.worker"]</c>. Per-call context is read from <see cref="ChatOptions.AdditionalProperties"/>:
/// <see cref="RunIdKey"/>, <see cref="StepIdKey"/>, <see cref="AttemptKey"/>, <see cref="TimeoutKey"/>.
/// </summary>
/// <remarks>
/// Fails with <see cref="NoWorkerException"/> when no worker consumes the queue (checked before sending and every
/// <see cref="Bus.MessagingOptions.WorkerCheckInterval"/> while waiting), <see cref="RemoteModelTimeoutException"/> after
/// the timeout, and <see cref="RemoteModelFaultException"/> when the model fails on the worker.
/// </remarks>
public sealed class RemoteChatClient : IChatClient
{
    /// <summary>Key of the worker id in the final update's and the response's additional properties.</summary>
    public const string WorkerKey = "agentflow.worker";

    /// <summary>Key of the milliseconds the request waited in the queue (double) in the final update's and the response's additional properties.</summary>
    public const string QueuedMsKey = "agentflow.queued_ms";

    /// <summary>Key of the milliseconds the model ran on the worker (double) in the final update's and the response's additional properties.</summary>
    public const string ModelMsKey = "agentflow.model_ms";

    /// <summary>Option key: the run id (string) sent with the request.</summary>
    public const string RunIdKey = "agentflow.run_id";

    /// <summary>Option key: the step id (string) sent with the request.</summary>
    public const string StepIdKey = "agentflow.step_id";

    /// <summary>Option key: the attempt number (int, 1 = first try) sent with the request.</summary>
    public const string AttemptKey = "agentflow.attempt";

    /// <summary>Option key: this call's timeout (a <see cref="TimeSpan"/> or seconds as a number), instead of the configured one.</summary>
    public const string TimeoutKey = "agentflow.timeout";

    private static readonly TimeSpan ChunkGrace = TimeSpan.FromMilliseconds(500);

    private readonly RemoteChatClientFactory _owner;
    private readonly ChatClientMetadata _metadata;
    private IRequestClient<ChatStepRequest>? _requests;
    private readonly WorkerCheck _served;

    internal RemoteChatClient(string model, RemoteChatClientFactory owner)
    {
        Model = model;
        _owner = owner;
        _metadata = new ChatClientMetadata("agentflow-worker", new Uri($"queue:{ModelQueues.For(model)}"), model);
        _served = new WorkerCheck(owner, model, ct => owner.Presence.CountWorkersAsync(model, ct), () => new NoWorkerException(model, owner.Presence.Hint(model)));
    }

    /// <summary>The model this client calls.</summary>
    public string Model { get; }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        ChatResponseUpdate? last = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            last = update;
        }

        var usage = last?.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = last?.MessageId })
        {
            ResponseId = last?.ResponseId,
            ModelId = Model,
            CreatedAt = last?.CreatedAt,
            FinishReason = last?.FinishReason,
            Usage = usage,
            AdditionalProperties = last?.AdditionalProperties,
        };
    }

    /// <summary>
    /// Update property set when the step was delivered again to another worker after its worker stopped mid-step;
    /// the value is the lost worker's id, or null when that worker stopped before it announced the step (the broker's
    /// redelivered flag tells). Text streamed so far stays valid; the new delivery continues it.
    /// </summary>
    public const string RedeliveredFromProperty = "agentflow.redelivered_from";

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var timeout = TimeoutOf(options) ?? _owner.Options.RequestTimeout;
        var request = BuildRequest(messages, options, _owner.Time.GetUtcNow() + timeout);
        // The step's span (AgentFlow's run tracer) is the parent of the worker's model-call span: named in the
        // request, and current while MassTransit sends, so its own send/consume spans join the same trace.
        var step = StepSpanOf(request, options);
        if (step is not null)
        {
            request = request with { TraceParent = step.Id, TraceState = step.TraceStateString };
        }

        await _served.EnsureAsync(cancellationToken).ConfigureAwait(false);

        var stream = _owner.Router.Open(request.RequestId);
        try
        {
            _requests ??= _owner.Bus.CreateRequestClient<ChatStepRequest>(new Uri($"queue:{ModelQueues.For(Model)}"));
            var previous = Activity.Current;
            Task<Response<ChatStepResponse, ChatStepFault>> response;
            try
            {
                Activity.Current = step ?? previous;
                response = _requests.GetResponse<ChatStepResponse, ChatStepFault>(request, cancellationToken, timeout);
            }
            finally
            {
                Activity.Current = previous;
            }

            var call = new PendingCall(this, request.RequestId, stream, response, timeout, cancellationToken);
            while (true)
            {
                var (update, done) = await call.NextAsync().ConfigureAwait(false);
                yield return update;
                if (done)
                {
                    yield break;
                }
            }
        }
        finally
        {
            _owner.Router.Close(request.RequestId);
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        return serviceType == typeof(ChatClientMetadata) ? _metadata : serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Nothing to free: the bus and the clients belong to the container.</summary>
    public void Dispose()
    {
    }

    private ChatStepRequest BuildRequest(IEnumerable<ChatMessage> messages, ChatOptions? options, DateTimeOffset deadline)
    {
        var list = messages.Select(Tools.ToolWire.ToWire).ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException($"a call to model '{Model}' needs at least one message", nameof(messages));
        }

        var props = options?.AdditionalProperties;
        var runId = props is not null && props.TryGetValue(RunIdKey, out string? run) ? run ?? string.Empty : string.Empty;
        var stepId = props is not null && props.TryGetValue(StepIdKey, out string? step) ? step ?? string.Empty : string.Empty;
        var attempt = props is not null && props.TryGetValue(AttemptKey, out object? a) && a is not null
            ? Convert.ToInt32(a, CultureInfo.InvariantCulture)
            : 1;
        var sampling = new ChatStepSampling(
            options?.MaxOutputTokens,
            options?.Temperature,
            options?.TopP,
            options?.Seed,
            options?.StopSequences is { Count: > 0 } stop ? [.. stop] : null,
            options?.ResponseFormat switch
            {
                ChatResponseFormatJson { Schema: { } schema } => schema.GetRawText(),
                ChatResponseFormatJson => "true",
                _ => null,
            });
        var (tools, toolMode) = Tools.ToolWire.ToWire(options);
        return new ChatStepRequest(NewId.NextGuid(), runId, stepId, attempt, Model, list, sampling, deadline) { Tools = tools, ToolMode = toolMode };
    }

    /// <summary>Option key: the step attempt's idempotency key (<c>run/step/iteration/attempt</c>, iteration 0 outside loops).</summary>
    public const string IdempotencyKey = "agentflow.idempotency_key";

    private static Activity? StepSpanOf(ChatStepRequest request, ChatOptions? options)
    {
        if (request.RunId.Length == 0 || request.StepId.Length == 0)
        {
            return null;
        }

        // The loop iteration is only in the idempotency key ("run/step/iteration/attempt", 0 outside loops).
        int? iteration = null;
        if (options?.AdditionalProperties is { } props && props.TryGetValue(IdempotencyKey, out string? key) && key is not null)
        {
            var parts = key.Split('/');
            if (parts.Length >= 4 && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i > 0)
            {
                iteration = i;
            }
        }

        return AgentFlow.Telemetry.RunTracer.StepSpan(request.RunId, request.StepId, iteration, request.Attempt);
    }

    private static TimeSpan? TimeoutOf(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { } props || !props.TryGetValue(TimeoutKey, out object? value) || value is null)
        {
            return null;
        }

        var timeout = value is TimeSpan span ? span : TimeSpan.FromSeconds(Convert.ToDouble(value, CultureInfo.InvariantCulture));
        return timeout > TimeSpan.Zero ? timeout : throw new ArgumentOutOfRangeException(nameof(options), timeout, $"{TimeoutKey} must be positive");
    }

    /// <summary>
    /// One call in flight: orders chunks, watches the response and the workers, maps failures. A request redelivered
    /// after its worker died streams again from the start under a new delivery id: text already passed on is not
    /// repeated, and only text that extends it is passed on.
    /// </summary>
    private sealed class PendingCall(
        RemoteChatClient client,
        Guid requestId,
        ChannelReader<object> stream,
        Task<Response<ChatStepResponse, ChatStepFault>> response,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        private readonly Dictionary<Guid, Delivery> _deliveries = [];
        private readonly HashSet<Guid> _seen = [];
        private readonly string _responseId = requestId.ToString("N");
        private string _emitted = string.Empty;
        private string? _worker;
        private Guid? _delivery;
        private bool _lost;
        private bool _lostNoted;
        private string? _lostWorker;
        private ChatStepResponse? _final;
        private long _finalAt;
        private bool _remainderSent;
        private Task<bool>? _read;
        private Task? _check;

        private TimeProvider Time => client._owner.Time;

        public async Task<(ChatResponseUpdate Update, bool Done)> NextAsync()
        {
            while (true)
            {
                Drain();
                if (_lost)
                {
                    // Tell the caller first: it records the lost delivery as a failed attempt of the step.
                    _lost = false;
                    return (RedeliveryUpdate(_lostWorker), false);
                }

                var ahead = _deliveries.Values
                    .Where(d => d.Text.Length > _emitted.Length && d.Text.ToString().StartsWith(_emitted, StringComparison.Ordinal))
                    .MaxBy(d => d.Text.Length);
                if (ahead is not null)
                {
                    var text = ahead.Text.ToString(_emitted.Length, ahead.Text.Length - _emitted.Length);
                    _emitted += text;
                    return (TextUpdate(text), false);
                }

                if (_final is { } final)
                {
                    var received = _deliveries.TryGetValue(final.DeliveryId, out var d) ? d.Next : 0;
                    if (received < final.ChunkCount && Time.GetElapsedTime(_finalAt) < ChunkGrace)
                    {
                        // The response overtook the last chunks (the bus endpoint handles messages concurrently).
                        await WaitAsync(includeResponse: false, ChunkGrace - Time.GetElapsedTime(_finalAt)).ConfigureAwait(false);
                        continue;
                    }

                    if (!final.Text.StartsWith(_emitted, StringComparison.Ordinal))
                    {
                        throw new RemoteModelException(client.Model, final.WorkerId,
                            $"model '{client.Model}': the step was redelivered to worker '{final.WorkerId}' after its first worker stopped, "
                            + "and the new answer differs from the text already streamed; retry the step (use temperature 0 or a seed for repeatable answers)");
                    }

                    if (!_remainderSent)
                    {
                        _remainderSent = true;
                        if (final.Text.Length > _emitted.Length)
                        {
                            var rest = final.Text[_emitted.Length..];
                            _emitted = final.Text;
                            return (TextUpdate(rest), false);
                        }
                    }

                    return (FinalUpdate(final), true);
                }

                if (response.IsCompleted)
                {
                    _final = await ReadResponseAsync().ConfigureAwait(false);
                    MessagingTelemetry.RecordQueueWait(client.Model, _final.QueuedMs);
                    _finalAt = Time.GetTimestamp();
                    Observe(_final.DeliveryId, _final.WorkerId, _final.Redelivered);
                    continue;
                }

                await WaitAsync(includeResponse: true, client._owner.Options.WorkerCheckInterval).ConfigureAwait(false);
            }
        }

        private void Drain()
        {
            while (stream.TryRead(out var message))
            {
                switch (message)
                {
                    case ChatStepStarted started:
                        Observe(started.DeliveryId, started.WorkerId, started.Redelivered);
                        break;
                    case ChatStepChunk chunk:
                        if (!_deliveries.TryGetValue(chunk.DeliveryId, out var delivery))
                        {
                            delivery = new Delivery();
                            _deliveries[chunk.DeliveryId] = delivery;
                        }

                        Observe(chunk.DeliveryId, chunk.WorkerId);
                        delivery.Add(chunk.Sequence, chunk.Text);
                        break;
                }
            }
        }

        // A delivery shows itself by its "started" notice, a chunk or the response, whichever comes first (a worker
        // announces a step only once it has run for a moment). A second delivery id means the step was delivered
        // again after its first worker stopped: the caller records the lost attempt. Late messages of an earlier
        // delivery change nothing. A worker stopped within its first moments never announced the step: the broker's
        // redelivered flag on the next delivery's notice or response still makes that attempt a record of its own.
        private void Observe(Guid delivery, string worker, bool redelivered = false)
        {
            if (_seen.Add(delivery))
            {
                if (_seen.Count > 1 && _worker is not null)
                {
                    (_lost, _lostNoted, _lostWorker) = (true, true, _worker);
                }

                (_delivery, _worker) = (delivery, worker);
            }
            else if (delivery == _delivery)
            {
                _worker = worker;
            }

            if (redelivered && !_lostNoted && _seen.Count == 1)
            {
                (_lost, _lostNoted, _lostWorker) = (true, true, null);
            }
        }

        private async Task WaitAsync(bool includeResponse, TimeSpan limit)
        {
            _read ??= stream.WaitToReadAsync(cancellationToken).AsTask();
            if (!includeResponse)
            {
                await Task.WhenAny(_read, Task.Delay(limit, Time, cancellationToken)).ConfigureAwait(false);
                ClearRead();
                cancellationToken.ThrowIfCancellationRequested();
                return;
            }

            _check ??= Task.Delay(limit, Time, cancellationToken);
            var first = await Task.WhenAny(_read, response, _check).ConfigureAwait(false);
            ClearRead();
            cancellationToken.ThrowIfCancellationRequested();
            if (first == _check && !response.IsCompleted)
            {
                _check = null;
                int? workers;
                try
                {
                    workers = await client._owner.Presence.CountWorkersAsync(client.Model, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    MessagingLog.PresenceUnknown(client._owner.Logger, client.Model, ex.Message);
                    return;
                }

                if (workers == 0 && !response.IsCompleted)
                {
                    throw new NoWorkerException(client.Model, client._owner.Presence.Hint(client.Model)
                        + (_worker is null ? string.Empty : $" (worker '{_worker}' took the step and then left)"));
                }
            }
        }

        private void ClearRead()
        {
            if (_read is { IsCompleted: true })
            {
                _read = null;
            }
        }

        private async Task<ChatStepResponse> ReadResponseAsync()
        {
            Response<ChatStepResponse, ChatStepFault> result;
            try
            {
                result = await response.ConfigureAwait(false);
            }
            catch (RequestTimeoutException ex)
            {
                Drain();
                throw new RemoteModelTimeoutException(client.Model, _worker, timeout, ex);
            }
            catch (RequestFaultException ex)
            {
                Drain();
                var info = ex.Fault?.Exceptions?.FirstOrDefault();
                var worker = _worker ?? (ex.Fault?.Host is { } host ? string.Create(CultureInfo.InvariantCulture, $"{host.MachineName}-{host.ProcessId}") : null);
                throw new RemoteModelFaultException(client.Model, worker, ShortName(info?.ExceptionType), info?.Message ?? ex.Message, ex);
            }
            catch (RequestCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            if (result.Is(out Response<ChatStepFault>? fault))
            {
                var f = fault.Message;
                throw new RemoteModelFaultException(client.Model, f.WorkerId, f.ErrorType, f.Message);
            }

            return result.Is(out Response<ChatStepResponse>? ok)
                ? ok.Message
                : throw new RemoteModelException(client.Model, _worker, $"model '{client.Model}': unexpected response {result.Message.GetType().Name}");
        }

        private static string ShortName(string? type) =>
            type is null ? "Fault" : type[(type.LastIndexOf('.') + 1)..];

        private ChatResponseUpdate RedeliveryUpdate(string? lostWorker) => new()
        {
            Role = ChatRole.Assistant,
            ResponseId = _responseId,
            MessageId = _responseId,
            ModelId = client.Model,
            AdditionalProperties = new() { [RedeliveredFromProperty] = lostWorker, ["agentflow.worker"] = _worker },
        };

        private ChatResponseUpdate TextUpdate(string text) => new(ChatRole.Assistant, text)
        {
            ResponseId = _responseId,
            MessageId = _responseId,
            ModelId = client.Model,
        };

        private ChatResponseUpdate FinalUpdate(ChatStepResponse final)
        {
            var usage = new UsageDetails
            {
                InputTokenCount = final.InputTokens,
                OutputTokenCount = final.OutputTokens,
                TotalTokenCount = final.InputTokens + final.OutputTokens,
            };
            // The worker's model asked for tools: the calls come back here, where the function invocation runs them.
            List<AIContent> contents = [new UsageContent(usage), .. (final.ToolCalls ?? []).Select(Tools.ToolWire.FromWire)];
            return new ChatResponseUpdate(ChatRole.Assistant, contents)
            {
                ResponseId = _responseId,
                MessageId = _responseId,
                ModelId = client.Model,
                CreatedAt = Time.GetUtcNow(),
                FinishReason = final.FinishReason is null ? null : new ChatFinishReason(final.FinishReason),
                AdditionalProperties = new AdditionalPropertiesDictionary
                {
                    [WorkerKey] = final.WorkerId,
                    [QueuedMsKey] = final.QueuedMs,
                    [ModelMsKey] = final.ModelMs,
                },
            };
        }
    }

    /// <summary>The chunks of one delivery, joined in sequence order as far as they are contiguous.</summary>
    private sealed class Delivery
    {
        private readonly SortedDictionary<int, string> _pending = [];

        public StringBuilder Text { get; } = new();

        /// <summary>The next sequence number expected (= chunks joined so far).</summary>
        public int Next { get; private set; }

        public void Add(int sequence, string text)
        {
            if (sequence < Next)
            {
                return;
            }

            _pending[sequence] = text;
            while (_pending.Remove(Next, out var next))
            {
                Text.Append(next);
                Next++;
            }
        }
    }
}
