using System.Diagnostics;
using System.Text;
using AgentFlow.Messaging.Contracts;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Messaging.Tests.Support;
using MassTransit;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace AgentFlow.Messaging.Tests;

/// <summary>Orchestrator and workers as separate buses on a real broker (each host stands for a process).</summary>
[Collection("rabbitmq")]
public sealed class RabbitMqTests(TinyModel tiny, ITestOutputHelper output) : IClassFixture<TinyModel>, IAsyncLifetime
{
    private RabbitMqBroker _broker = null!;

    public Task InitializeAsync()
    {
        _broker = new RabbitMqBroker();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => _broker.CleanupAsync();

    [RabbitMqFact]
    public async Task GetResponseAsync_OverRabbitMq_EqualsDirectCallAndReportsLatency()
    {
        var model = _broker.NewModel("tiny-rt");
        await using var worker = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-rt" }.AddModel(model), tiny.Client);
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var client = orchestrator.Models.Create(model);

        var direct = await tiny.Client.GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy(64));
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(TinyModel.Prompt(), TinyModel.Greedy(64)))
        {
            updates.Add(update);
        }

        Assert.Equal(direct.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Equal("w-rt", updates[^1].AdditionalProperties![RemoteChatClient.WorkerKey]);
        Assert.Equal(direct.Usage!.OutputTokenCount, updates[^1].Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);

        var options = TinyModel.Greedy(1);
        for (var i = 0; i < 5; i++)
        {
            await client.GetResponseAsync(TinyModel.Prompt("hi"), options);
        }

        var remote = new List<double>();
        var local = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var clock = Stopwatch.StartNew();
            await client.GetResponseAsync(TinyModel.Prompt("hi"), options);
            remote.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            await tiny.Client.GetResponseAsync(TinyModel.Prompt("hi"), options);
            local.Add(clock.Elapsed.TotalMilliseconds);
        }

        remote.Sort();
        local.Sort();
        output.WriteLine($"RabbitMQ, 1 token: remote p50 {remote[20]:0.00} ms p95 {remote[38]:0.00} ms; direct p50 {local[20]:0.00} ms; overhead p50 {remote[20] - local[20]:0.00} ms");
    }

    [RabbitMqFact]
    public async Task GetResponseAsync_NoConsumerOnQueue_ThrowsNoWorkerFast()
    {
        var model = _broker.NewModel("tiny-none");
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var clock = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<NoWorkerException>(() => orchestrator.Models.Create(model).GetResponseAsync(TinyModel.Prompt(), TinyModel.Greedy()));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.StartsWith($"no worker serves model '{model}'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("guest:guest", ex.Message, StringComparison.Ordinal);
    }

    [RabbitMqFact]
    public async Task GetResponseAsync_TwoWorkersOneModel_ShareLoad()
    {
        var model = _broker.NewModel("tiny-share");
        await using var a = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-a" }.AddModel(model), tiny.Client);
        await using var b = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-b" }.AddModel(model), tiny.Client);
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var client = orchestrator.Models.Create(model);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.GetResponseAsync(TinyModel.Prompt($"story {i}"), TinyModel.Greedy(48))));

        var byWorker = responses.GroupBy(r => (string)r.AdditionalProperties![RemoteChatClient.WorkerKey]!).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine(string.Join(", ", byWorker.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.Equal(["w-a", "w-b"], byWorker.Keys.Order(StringComparer.Ordinal));
    }

    [RabbitMqFact]
    public async Task Consume_UnreadableMessage_LandsInErrorQueue()
    {
        var model = _broker.NewModel("tiny-poison");
        var queue = ModelQueues.For(model);
        await using var worker = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-p" }.AddModel(model), tiny.Client);

        await _broker.SendRawAsync(queue, Encoding.UTF8.GetBytes("{ this is not json"), "application/vnd.masstransit+json");

        var deadline = Stopwatch.StartNew();
        uint? errors = null;
        while (deadline.Elapsed < TimeSpan.FromSeconds(10) && errors is null or 0)
        {
            await Task.Delay(100);
            errors = await _broker.MessageCountAsync(queue + "_error");
        }

        Assert.Equal(1u, errors);
        Assert.Equal(0u, await _broker.MessageCountAsync(queue));
    }

    [RabbitMqFact]
    public async Task GetStreamingResponseAsync_WorkerStopsMidStep_RedeliveredToOtherWorker()
    {
        var model = _broker.NewModel("tiny-redeliver");
        var shortGrace = TimeSpan.FromMilliseconds(50);
        var hosts = new Dictionary<string, BusHost>
        {
            ["w-1"] = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-1", ShutdownTimeout = shortGrace }.AddModel(model), tiny.Client),
            ["w-2"] = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-2", ShutdownTimeout = shortGrace }.AddModel(model), tiny.Client),
        };
        try
        {
            await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
            var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            orchestrator.Bus.ConnectHandler<ChatStepStarted>(c =>
            {
                started.TrySetResult(c.Message.WorkerId);
                return Task.CompletedTask;
            });
            var prompt = TinyModel.Prompt("Count to one thousand.");
            var direct = await tiny.Client.GetResponseAsync(prompt, TinyModel.Greedy(1500));

            var call = Task.Run(async () =>
            {
                var updates = new List<ChatResponseUpdate>();
                await foreach (var update in orchestrator.Models.Create(model).GetStreamingResponseAsync(prompt, TinyModel.Greedy(1500)))
                {
                    updates.Add(update);
                }

                return updates;
            });
            var first = await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await hosts[first].StopAsync();
            var updates = await call.WaitAsync(TimeSpan.FromSeconds(60));

            var other = first == "w-1" ? "w-2" : "w-1";
            Assert.Equal(other, updates[^1].AdditionalProperties![RemoteChatClient.WorkerKey]);
            Assert.Equal(direct.Text, string.Concat(updates.Select(u => u.Text)));
        }
        finally
        {
            foreach (var host in hosts.Values)
            {
                await host.DisposeAsync();
            }
        }
    }

    [RabbitMqFact]
    public async Task GetStreamingResponseAsync_WorkerLostBeforeAnnouncing_LostAttemptIsReported()
    {
        // A worker killed within its first 50 ms never announces the step: only the broker knows it had it.
        var model = _broker.NewModel("tiny-unannounced");
        await (await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-setup" }.AddModel(model), tiny.Client)).DisposeAsync();
        var holder = await _broker.HoldOneAsync(ModelQueues.For(model));   // the queue exists now; this is the doomed worker
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var prompt = TinyModel.Prompt("Count to ten.");
        var direct = await tiny.Client.GetResponseAsync(prompt, TinyModel.Greedy(40));

        var call = Task.Run(async () =>
        {
            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in orchestrator.Models.Create(model).GetStreamingResponseAsync(prompt, TinyModel.Greedy(40)))
            {
                updates.Add(update);
            }

            return updates;
        });
        await holder.Took.WaitAsync(TimeSpan.FromSeconds(10));
        await using var worker = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-2" }.AddModel(model), tiny.Client);
        await holder.DisposeAsync();   // "killed": the message goes back to the queue, flagged redelivered
        var updates = await call.WaitAsync(TimeSpan.FromSeconds(60));

        var lost = Assert.Single(updates, u => u.AdditionalProperties?.ContainsKey(RemoteChatClient.RedeliveredFromProperty) == true);
        Assert.Null(lost.AdditionalProperties![RemoteChatClient.RedeliveredFromProperty]);   // that worker never said who it was
        Assert.Equal("w-2", updates[^1].AdditionalProperties![RemoteChatClient.WorkerKey]);
        Assert.Equal(direct.Text, string.Concat(updates.Select(u => u.Text)));
    }
}
