using System.Collections.Concurrent;
using System.Diagnostics;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.Contracts;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Messaging.Tests.Support;
using MassTransit;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace AgentFlow.Messaging.Tests;

/// <summary>The embedded default: orchestrator and a worker for the real tiny model on one in-memory bus.</summary>
public sealed class InMemoryRoundTripTests(TinyModel tiny, ITestOutputHelper output) : IClassFixture<TinyModel>, IAsyncLifetime
{
    private const string WorkerId = "test-worker";
    private BusHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await BusHost.EmbeddedAsync(
            new MessagingOptions { RequestTimeout = TimeSpan.FromSeconds(30) },
            new ModelWorkerOptions { WorkerId = WorkerId }.AddModel("tiny"),
            tiny.Client);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task GetResponseAsync_Temperature0_EqualsDirectCall()
    {
        var direct = await tiny.Client.GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy());

        var remote = await _host.Models.Create("tiny").GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy());

        Assert.False(string.IsNullOrEmpty(direct.Text));
        Assert.Equal(direct.Text, remote.Text);
        Assert.Equal(direct.FinishReason, remote.FinishReason);
        Assert.Equal(direct.Usage!.InputTokenCount, remote.Usage!.InputTokenCount);
        Assert.Equal(direct.Usage.OutputTokenCount, remote.Usage.OutputTokenCount);
        Assert.Equal(WorkerId, remote.AdditionalProperties![RemoteChatClient.WorkerKey]);
        Assert.IsType<double>(remote.AdditionalProperties[RemoteChatClient.ModelMsKey]);
    }

    [Fact]
    public async Task GetResponseAsync_JsonSchema_TravelsToTheWorkerAndEqualsDirectCall()
    {
        using var schema = System.Text.Json.JsonDocument.Parse("""{"type":"object","properties":{"label":{"enum":["a","b"]},"n":{"type":"integer"}},"required":["label","n"]}""");
        var options = new ChatOptions { MaxOutputTokens = 64, Temperature = 0, ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement, "answer") };
        var direct = await tiny.Client.GetResponseAsync(TinyModel.Prompt(), options);

        var remote = await _host.Models.Create("tiny").GetResponseAsync(TinyModel.Prompt(), options);

        // The tiny model's text is only JSON when the worker decoded under the schema.
        using var answer = System.Text.Json.JsonDocument.Parse(remote.Text);
        Assert.True(answer.RootElement.GetProperty("label").GetString() is "a" or "b", remote.Text);
        Assert.Equal(direct.Text, remote.Text);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_LongAnswer_ChunksInOrderConcatenateToFinalText()
    {
        var sent = new ConcurrentQueue<ChatStepChunk>();
        var tap = _host.Bus.ConnectHandler<ChatStepChunk>(c =>
        {
            sent.Enqueue(c.Message);
            return Task.CompletedTask;
        });
        try
        {
            // Long enough (~0.2 s on 2 cores) that the model pauses while chunks are due.
            var direct = await tiny.Client.GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy(1000));

            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in _host.Models.Create("tiny").GetStreamingResponseAsync(TinyModel.Prompt(), TinyModel.Greedy(1000)))
            {
                updates.Add(update);
            }

            var text = string.Concat(updates.Select(u => u.Text));
            Assert.Equal(direct.Text, text);
            var last = updates[^1];
            Assert.Equal(direct.FinishReason, last.FinishReason);
            var usage = Assert.Single(last.Contents.OfType<UsageContent>());
            Assert.Equal(direct.Usage!.OutputTokenCount, usage.Details.OutputTokenCount);
            Assert.True(usage.Details.InputTokenCount > 0);
            Assert.Equal(WorkerId, last.AdditionalProperties![RemoteChatClient.WorkerKey]);

            // What the worker sent while generating: sequences 0..n-1, whose texts in sequence order begin the answer
            // (text still held when the model finished travels in the response only).
            var chunks = sent.Where(c => c.WorkerId == WorkerId).OrderBy(c => c.Sequence).ToList();
            Assert.NotEmpty(chunks);
            Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Sequence));
            Assert.StartsWith(string.Concat(chunks.Select(c => c.Text)), direct.Text, StringComparison.Ordinal);
            output.WriteLine($"{chunks.Count} chunks, {updates.Count} updates, {usage.Details.OutputTokenCount} tokens");
        }
        finally
        {
            tap.Disconnect();
        }
    }

    [Fact]
    public async Task GetResponseAsync_ModelNotHosted_ThrowsNoWorkerFast()
    {
        var clock = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<NoWorkerException>(() => _host.Models.Create("tiny2").GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy()));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.StartsWith("no worker serves model 'tiny2'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'tiny'", ex.Message, StringComparison.Ordinal);
        Assert.Equal("tiny2", ex.Model);
    }

    [Fact]
    public async Task GetResponseAsync_TimeoutShorterThanGeneration_ThrowsTimeoutNamingModelAndWorker()
    {
        // 1,900 tokens take the tiny model ~0.4 s on 2 cores; the worker announces the step after 50 ms, so the
        // timeout at 250 ms knows who had it.
        var options = TinyModel.Greedy(1900);
        options.AdditionalProperties = new() { [RemoteChatClient.TimeoutKey] = TimeSpan.FromMilliseconds(250) };

        var ex = await Assert.ThrowsAsync<RemoteModelTimeoutException>(() =>
            _host.Models.Create("tiny").GetResponseAsync(TinyModel.Prompt("Count to one thousand."), options));

        Assert.Equal("tiny", ex.Model);
        Assert.Contains("model 'tiny'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(WorkerId, ex.WorkerId);
        Assert.Contains($"worker '{WorkerId}'", ex.Message, StringComparison.Ordinal);

        // The worker gave up at the deadline: the next call is served at once.
        var next = await _host.Models.Create("tiny").GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy(4));
        Assert.False(string.IsNullOrEmpty(next.Text));
    }

    [Fact]
    public async Task Consume_RequestOnWrongQueue_FaultsToRequester()
    {
        var client = _host.Bus.CreateRequestClient<ChatStepRequest>(new Uri($"queue:{ModelQueues.For("tiny")}"));
        var request = new ChatStepRequest(Guid.NewGuid(), "run", "step", 1, "other-model", [new("user", "hi")], new ChatStepSampling(), DateTimeOffset.UtcNow.AddMinutes(1));

        var ex = await Assert.ThrowsAsync<RequestFaultException>(() => client.GetResponse<ChatStepResponse>(request));

        Assert.Contains("arrived at the queue of model 'tiny'", ex.Fault!.Exceptions[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_Sequential_ReportsRoundTripOverhead()
    {
        var client = _host.Models.Create("tiny");
        var options = TinyModel.Greedy(1);
        for (var i = 0; i < 5; i++)
        {
            await client.GetResponseAsync(TinyModel.Prompt("hi"), options);
            await tiny.Client.GetResponseAsync(TinyModel.Prompt("hi"), options);
        }

        var remote = new List<double>();
        var direct = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var clock = Stopwatch.StartNew();
            await client.GetResponseAsync(TinyModel.Prompt("hi"), options);
            remote.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            await tiny.Client.GetResponseAsync(TinyModel.Prompt("hi"), options);
            direct.Add(clock.Elapsed.TotalMilliseconds);
        }

        remote.Sort();
        direct.Sort();
        output.WriteLine($"in-memory, 1 token: remote p50 {remote[20]:0.00} ms p95 {remote[38]:0.00} ms; direct p50 {direct[20]:0.00} ms; overhead p50 {remote[20] - direct[20]:0.00} ms");
        Assert.True(remote[20] < direct[20] + 200, "the bus adds under 200 ms per call");
    }
}
