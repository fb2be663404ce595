using System.Collections.Concurrent;
using System.Diagnostics;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Messaging.Tests.Support;
using AgentFlow.Models.MiniLM;
using AgentFlow.Telemetry;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Tests.Orchestrator;

/// <summary>The built-in MiniLM served by a worker over a real broker, embedding for a separate orchestrator bus.</summary>
[Collection("rabbitmq")]
public sealed class RemoteEmbeddingGeneratorTests : IAsyncLifetime
{
    private readonly RabbitMqBroker _broker = new();
    private MiniLmEmbeddingGenerator _minilm = null!;

    public Task InitializeAsync()
    {
        _minilm = new MiniLmEmbeddingGenerator();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _broker.CleanupAsync();
        _minilm.Dispose();
    }

    [RabbitMqFact]
    public async Task GenerateAsync_OverRabbitMq_EqualsMiniLmCalledDirectlyInTheCallersTrace()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AgentFlowTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var embedder = _broker.NewEmbedder("minilm-rt");
        await using var worker = await EmbedderWorkerAsync(new ModelWorkerOptions { WorkerId = "w-emb" }.AddEmbedder(embedder));
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var generator = orchestrator.Models.CreateEmbeddingGenerator(embedder);
        // More texts than one request carries, so the batches' order is checked too.
        string[] texts = [.. Enumerable.Range(0, RemoteEmbeddingGenerator.BatchSize + 6).Select(i => $"Refunds are issued within {i} days of the return.")];

        GeneratedEmbeddings<Embedding<float>> remote;
        ActivityContext parent;
        using (var step = AgentFlowTelemetry.Source.StartActivity("test retrieve"))
        {
            parent = step!.Context;
            remote = await generator.GenerateAsync(texts);
        }

        var direct = await _minilm.GenerateAsync(texts);

        Assert.Equal(texts.Length, remote.Count);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(direct[i].Vector.ToArray(), remote[i].Vector.ToArray());
        }

        Assert.Equal(MiniLmEmbeddingGenerator.ModelId, remote[0].ModelId);
        Assert.Equal(direct.Usage!.InputTokenCount, remote.Usage!.InputTokenCount);
        Assert.Equal("w-emb", remote.AdditionalProperties![RemoteChatClient.WorkerKey]);
        // One worker span per request (two batches), each a child of the caller's span.
        var calls = spans.Where(s => s.OperationName == $"embeddings {embedder}").ToList();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.Equal((parent.TraceId, parent.SpanId), (c.TraceId, c.ParentSpanId)));
        Assert.All(calls, c => Assert.Equal("w-emb", c.GetTagItem("agentflow.worker")));
    }

    [RabbitMqFact]
    public async Task GenerateAsync_NoWorkerServesEmbedder_ThrowsFastNamingEmbedder()
    {
        var embedder = _broker.NewEmbedder("minilm-none");
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var clock = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<NoWorkerException>(() => orchestrator.Models.CreateEmbeddingGenerator(embedder).GenerateAsync(["refund policy"]));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.StartsWith($"no worker serves embedder '{embedder}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"--embedders {embedder}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("guest:guest", ex.Message, StringComparison.Ordinal);
    }

    [RabbitMqFact]
    public async Task GenerateAsync_EmbedderFailsOnWorker_ThrowsFaultWithWorkerMessage()
    {
        var embedder = _broker.NewEmbedder("minilm-fail");
        await using var worker = await EmbedderWorkerAsync(
            new ModelWorkerOptions { WorkerId = "w-fail", LoadModelsAtStart = false }.AddEmbedder(embedder),
            (_, _) => throw new InvalidOperationException("endpoint http://127.0.0.1:9/v1/embeddings refused the connection"));
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());

        var ex = await Assert.ThrowsAsync<RemoteModelFaultException>(() => orchestrator.Models.CreateEmbeddingGenerator(embedder).GenerateAsync(["refund policy"]));

        Assert.Equal("w-fail", ex.WorkerId);
        Assert.Contains("refused the connection", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_EmbeddersOnly_HasNoProblems()
    {
        var options = new ModelWorkerOptions().AddEmbedder("minilm");

        Assert.Empty(options.Validate());
        Assert.Contains(new ModelWorkerOptions().AddEmbedder("bad name").Validate(), p => p.Contains("embedder name 'bad name'", StringComparison.Ordinal));
        Assert.Contains(new ModelWorkerOptions().AddEmbedder("e").AddEmbedder("e").Validate(), p => p.Contains("embedder 'e' is listed twice", StringComparison.Ordinal));
    }

    private Task<BusHost> EmbedderWorkerAsync(
        ModelWorkerOptions worker,
        Func<string, CancellationToken, Task<IEmbeddingGenerator<string, Embedding<float>>>>? generators = null) =>
        BusHost.StartAsync(s => s
            .AddAgentFlowWorker(RabbitMqBroker.Options(), worker, (_, _) => throw new InvalidOperationException("this worker serves no chat model"))
            .AddAgentFlowEmbedderWorker(generators ?? ((_, _) => Task.FromResult<IEmbeddingGenerator<string, Embedding<float>>>(_minilm))));
}
