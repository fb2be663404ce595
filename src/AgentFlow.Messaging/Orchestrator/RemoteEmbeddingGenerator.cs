using System.Diagnostics;
using System.Globalization;
using AgentFlow.Messaging.Contracts;
using MassTransit;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// An <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> for one embedder whose vectors are computed by workers
/// (<c>agentflow worker --embedders NAME</c>): each call sends <see cref="EmbeddingRequest"/>s (at most
/// <see cref="BatchSize"/> texts each) to the queue <c>agentflow.embedder.NAME</c>. The result's
/// <see cref="GeneratedEmbeddings{TEmbedding}.AdditionalProperties"/> carry the worker id and its timings under the
/// <see cref="RemoteChatClient"/> keys.
/// </summary>
/// <remarks>
/// Fails with <see cref="NoWorkerException"/> (<c>no worker serves embedder 'NAME'</c>) when no worker consumes the
/// queue (checked before sending and every <see cref="Bus.MessagingOptions.WorkerCheckInterval"/> while waiting),
/// <see cref="RemoteModelTimeoutException"/> after <see cref="Bus.MessagingOptions.RequestTimeout"/>, and
/// <see cref="RemoteModelFaultException"/> when the embedder fails on the worker.
/// </remarks>
public sealed class RemoteEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Most texts per request: bounds the message size (64 × 384 floats is ~100 kB of JSON) and lets several workers share a big batch.</summary>
    public const int BatchSize = 64;

    private readonly RemoteChatClientFactory _owner;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private IRequestClient<EmbeddingRequest>? _requests;
    private readonly WorkerCheck _served;

    internal RemoteEmbeddingGenerator(string embedder, RemoteChatClientFactory owner)
    {
        Embedder = embedder;
        _owner = owner;
        _metadata = new EmbeddingGeneratorMetadata("agentflow-worker", new Uri($"queue:{ModelQueues.ForEmbedder(embedder)}"), embedder);
        _served = new WorkerCheck(owner, embedder, ct => owner.Presence.CountEmbedderWorkersAsync(embedder, ct), () => new NoWorkerException(embedder, owner.Presence.EmbedderHint(embedder), isEmbedder: true));
    }

    /// <summary>The embedder this generator calls.</summary>
    public string Embedder { get; }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToArray();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Length);
        await _served.EnsureAsync(cancellationToken).ConfigureAwait(false);
        if (texts.Length == 0)
        {
            return result;
        }

        _requests ??= _owner.Bus.CreateRequestClient<EmbeddingRequest>(new Uri($"queue:{ModelQueues.ForEmbedder(Embedder)}"));
        long? tokens = null;
        double queuedMs = 0, modelMs = 0;
        string? worker = null;
        foreach (var batch in texts.Chunk(BatchSize))
        {
            var timeout = _owner.Options.RequestTimeout;
            var request = new EmbeddingRequest(NewId.NextGuid(), Embedder, batch, _owner.Time.GetUtcNow() + timeout)
            {
                Dimensions = options?.Dimensions,
                TraceParent = Activity.Current?.Id,
                TraceState = Activity.Current?.TraceStateString,
            };
            var response = await SendAsync(request, timeout, cancellationToken).ConfigureAwait(false);
            if (response.Vectors.Count != batch.Length)
            {
                throw new RemoteModelException(Embedder, response.WorkerId, string.Create(CultureInfo.InvariantCulture,
                    $"embedder '{Embedder}' on worker '{response.WorkerId}' returned {response.Vectors.Count} vectors for {batch.Length} texts"));
            }

            var created = _owner.Time.GetUtcNow();
            foreach (var vector in response.Vectors)
            {
                result.Add(new Embedding<float>(vector) { ModelId = response.ModelId ?? Embedder, CreatedAt = created });
            }

            tokens = response.InputTokens is { } t ? (tokens ?? 0) + t : tokens;
            queuedMs += response.QueuedMs;
            modelMs += response.ModelMs;
            worker = response.WorkerId;
        }

        result.Usage = new UsageDetails { InputTokenCount = tokens };
        result.AdditionalProperties = new()
        {
            [RemoteChatClient.WorkerKey] = worker,
            [RemoteChatClient.QueuedMsKey] = queuedMs,
            [RemoteChatClient.ModelMsKey] = modelMs,
        };
        return result;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <summary>Nothing to free: the bus belongs to the container.</summary>
    public void Dispose()
    {
    }

    private async Task<EmbeddingResponse> SendAsync(EmbeddingRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pending = _requests!.GetResponse<EmbeddingResponse, EmbeddingFault>(request, stop.Token, timeout);
        try
        {
            // A worker that leaves while the request waits is noticed here rather than at the timeout.
            while (!pending.IsCompleted)
            {
                var tick = Task.Delay(_owner.Options.WorkerCheckInterval, _owner.Time, stop.Token);
                if (await Task.WhenAny(pending, tick).ConfigureAwait(false) == tick && !pending.IsCompleted)
                {
                    _served.Forget();
                    await _served.EnsureAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            var result = await pending.ConfigureAwait(false);
            if (result.Is(out Response<EmbeddingFault>? fault))
            {
                throw new RemoteModelFaultException(Embedder, fault.Message.WorkerId, fault.Message.ErrorType, fault.Message.Message);
            }

            return result.Is(out Response<EmbeddingResponse>? ok)
                ? ok.Message
                : throw new RemoteModelException(Embedder, null, $"embedder '{Embedder}': unexpected response {result.Message.GetType().Name}");
        }
        catch (RequestTimeoutException ex)
        {
            throw new RemoteModelTimeoutException(Embedder, null, timeout, ex);
        }
        catch (RequestFaultException ex)
        {
            var info = ex.Fault?.Exceptions?.FirstOrDefault();
            var type = info?.ExceptionType;
            throw new RemoteModelFaultException(Embedder, null, type is null ? "Fault" : type[(type.LastIndexOf('.') + 1)..], info?.Message ?? ex.Message, ex);
        }
        catch (RequestCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        finally
        {
            // A request given up on (no worker, cancelled) is not left waiting for its timeout.
            await stop.CancelAsync().ConfigureAwait(false);
            _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }
}
