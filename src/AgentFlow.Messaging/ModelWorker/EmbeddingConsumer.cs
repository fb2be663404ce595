using System.Collections.Concurrent;
using System.Diagnostics;
using AgentFlow.Messaging.Contracts;
using MassTransit;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// Answers the embedding requests of one embedder with <see cref="EmbeddingResponse"/> (or <see cref="EmbeddingFault"/>
/// when the embedder fails). A malformed request throws <see cref="InvalidChatStepRequestException"/>, which MassTransit
/// moves to the queue's <c>_error</c> queue (and reports to the requester as a fault); a request cancelled by a worker
/// shutdown goes back to the queue, like a chat step.
/// </summary>
internal sealed class EmbeddingConsumer(
    string embedder,
    string workerId,
    EmbedderCache generators,
    TimeProvider time,
    ILogger logger) : IConsumer<EmbeddingRequest>
{
    public async Task Consume(ConsumeContext<EmbeddingRequest> context)
    {
        var request = context.Message;
        var problem = Check(request);
        if (problem is not null)
        {
            MessagingLog.RequestRejected(logger, workerId, embedder, context.MessageId, problem);
            throw new InvalidChatStepRequestException(problem);
        }

        var now = time.GetUtcNow();
        var queuedMs = context.SentTime is { } sent ? Math.Max(0, (now - new DateTimeOffset(sent, TimeSpan.Zero)).TotalMilliseconds) : 0;
        if (now >= request.Deadline)
        {
            MessagingLog.RequestExpired(logger, workerId, embedder, request.RequestId, string.Empty, string.Empty, queuedMs);
            return;
        }

        using var deadline = new CancellationTokenSource(request.Deadline - now, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, deadline.Token);
        var span = MessagingTelemetry.StartEmbeddings(request, workerId, queuedMs);
        var clock = Stopwatch.StartNew();
        GeneratedEmbeddings<Embedding<float>> embeddings;
        try
        {
            var generator = await generators.GetAsync(embedder, linked.Token).ConfigureAwait(false);
            var options = request.Dimensions is { } dimensions ? new EmbeddingGenerationOptions { Dimensions = dimensions } : null;
            embeddings = await generator.GenerateAsync(request.Inputs, options, linked.Token).ConfigureAwait(false);
            if (embeddings.Count != request.Inputs.Count)
            {
                throw new InvalidOperationException($"the embedder returned {embeddings.Count} vectors for {request.Inputs.Count} inputs");
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            MessagingLog.StepRequeued(logger, workerId, embedder, request.RequestId, clock.Elapsed.TotalMilliseconds);
            MessagingTelemetry.EndModelCall(span, null, null, null, "the worker stopped; the request went back to the queue");
            throw;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            MessagingLog.StepDeadlinePassed(logger, workerId, embedder, request.RequestId, string.Empty, string.Empty, clock.Elapsed.TotalMilliseconds);
            MessagingTelemetry.EndModelCall(span, null, null, null, "the requester's deadline passed");
            return;
        }
        catch (Exception ex)
        {
            MessagingLog.ModelFailed(logger, ex, workerId, embedder, request.RequestId, string.Empty, string.Empty);
            MessagingTelemetry.EndModelCall(span, null, null, null, ex.Message);
            if (context.ResponseAddress is not null)
            {
                await context.RespondAsync(new EmbeddingFault(request.RequestId, embedder, workerId, ex.Message, ex.GetType().Name)).ConfigureAwait(false);
            }

            return;
        }

        var modelMs = clock.Elapsed.TotalMilliseconds;
        var tokens = embeddings.Usage?.InputTokenCount;
        MessagingLog.EmbeddingFinished(logger, workerId, embedder, request.RequestId, request.Inputs.Count, tokens, modelMs);
        MessagingTelemetry.EndModelCall(span, tokens, null, null, error: null);
        if (context.ResponseAddress is not null)
        {
            await context.RespondAsync(new EmbeddingResponse(
                request.RequestId, embedder, [.. embeddings.Select(e => e.Vector.ToArray())], tokens, workerId, queuedMs, modelMs)
            {
                ModelId = embeddings.Count > 0 ? embeddings[0].ModelId : null,
            }).ConfigureAwait(false);
        }
    }

    private string? Check(EmbeddingRequest? request)
    {
        if (request is null)
        {
            return "the message has no body";
        }

        if (request.RequestId == Guid.Empty)
        {
            return "RequestId is empty";
        }

        if (!string.Equals(request.Embedder, embedder, StringComparison.Ordinal))
        {
            return $"request for embedder '{request.Embedder}' arrived at the queue of embedder '{embedder}'";
        }

        if (request.Inputs is null)
        {
            return "the request has no inputs";
        }

        return request.Inputs.Any(i => i is null) ? "every input needs a text" : null;
    }
}

/// <summary>Resolves each embedder's generator once (a failed load is retried on next use). The generators are not owned here.</summary>
internal sealed class EmbedderCache(Func<string, CancellationToken, Task<IEmbeddingGenerator<string, Embedding<float>>>> factory)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<IEmbeddingGenerator<string, Embedding<float>>>>> _generators = new(StringComparer.Ordinal);

    public async Task<IEmbeddingGenerator<string, Embedding<float>>> GetAsync(string embedder, CancellationToken cancellationToken)
    {
        var lazy = _generators.GetOrAdd(embedder, e => new Lazy<Task<IEmbeddingGenerator<string, Embedding<float>>>>(
            () => factory(e, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted || lazy.Value.IsCanceled)
        {
            _generators.TryRemove(KeyValuePair.Create(embedder, lazy));
            throw;
        }
    }
}
