using System.Text.Json;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Memory.Redis;
using AgentFlow.Memory.Tests.Support;
using CheckpointInfo = Microsoft.Agents.AI.Workflows.CheckpointInfo;

namespace AgentFlow.Memory.Tests;

/// <summary>
/// The Redis run store against the real server AGENTFLOW_TEST_REDIS names: state, the active set, checkpoints in commit
/// order, and leases that exclude, release, and lapse when their owner stops renewing them. (Whole runs parked,
/// decided and taken over through this store are driven by the CLI tests, with real processes.)
/// </summary>
public sealed class RedisRunStoreTests
{
    private static Task<RedisRunStore> ConnectAsync(TimeSpan? leaseTtl = null) =>
        RedisRunStore.ConnectAsync(new MemoryStoreOptions { Store = MemoryStoreKind.Redis, Connection = TestRedis.Connection }, leaseTtl);

    private static DurableRun NewRun(RunStatus status) => new()
    {
        RunId = Guid.NewGuid().ToString("N"),
        WorkflowPath = "/w/flow.yaml",
        DefinitionSha256 = new string('a', 64),
        Inputs = { ["ticket"] = "refund" },
        Record = new RunRecord
        {
            RunId = "r",
            Workflow = "flow",
            WorkflowVersion = 1,
            DefinitionSha256 = new string('a', 64),
            Started = DateTimeOffset.UnixEpoch.AddDays(20000),
            Inputs = new Dictionary<string, System.Text.Json.Nodes.JsonNode?>(),
            Bindings = new Dictionary<string, string> { ["w"] = "tiny" },
            Models = new Dictionary<string, ModelInfo>(),
            Status = status,
        },
    };

    [RedisFact]
    public async Task SaveAsync_ThenLoadFromAnotherConnection_SameStateAndActiveUntilFinished()
    {
        await using var first = await ConnectAsync();
        await using var second = await ConnectAsync();
        var run = NewRun(RunStatus.Waiting);
        run.Record.Waiting = new WaitingApproval("review", "Send?", "draft", DateTimeOffset.UnixEpoch, null, "reject", null);
        run.CheckpointId = "c1";

        await first.SaveAsync(run, CancellationToken.None);
        var loaded = await second.LoadAsync(run.RunId, CancellationToken.None);

        Assert.Equal((run.WorkflowPath, "refund", "c1", "review"), (loaded!.WorkflowPath, loaded.Inputs["ticket"], loaded.CheckpointId, loaded.Record.Waiting!.StepId));
        Assert.Contains(run.RunId, (await second.ListActiveAsync(CancellationToken.None)).Select(r => r.RunId));
        Assert.Contains(run.RunId, (await second.ListRecentAsync(1000, CancellationToken.None)).Select(r => r.RunId));

        run.Record.Status = RunStatus.Succeeded;
        await first.SaveAsync(run, CancellationToken.None);
        Assert.DoesNotContain(run.RunId, (await second.ListActiveAsync(CancellationToken.None)).Select(r => r.RunId));
    }

    [RedisFact]
    public async Task Checkpoints_IndexKeepsCommitOrderAndEveryEntryHasItsCheckpoint()
    {
        await using var store = await ConnectAsync();
        var runId = Guid.NewGuid().ToString("N");
        var checkpoints = store.Checkpoints(runId);
        var created = new List<CheckpointInfo>();
        for (var i = 0; i < 5; i++)
        {
            using var doc = JsonDocument.Parse($"{{\"n\":{i}}}");
            created.Add(await checkpoints.CreateCheckpointAsync(runId, doc.RootElement, created.LastOrDefault()));
        }

        var index = (await checkpoints.RetrieveIndexAsync(runId)).ToList();
        Assert.Equal(created.Select(c => c.CheckpointId), index.Select(c => c.CheckpointId));
        Assert.Equal(3, (await checkpoints.RetrieveCheckpointAsync(runId, index[3])).GetProperty("n").GetInt32());
        Assert.Equal([created[2].CheckpointId], (await checkpoints.RetrieveIndexAsync(runId, created[1])).Select(c => c.CheckpointId));
        await Assert.ThrowsAsync<RunStoreException>(async () => await checkpoints.RetrieveCheckpointAsync(runId, new CheckpointInfo(runId, "missing")));
    }

    [RedisFact]
    public async Task TryAcquireLeaseAsync_HeldLeaseExcludesOthersUntilReleased()
    {
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var runId = Guid.NewGuid().ToString("N");

        var held = await a.TryAcquireLeaseAsync(runId, "a", CancellationToken.None);
        Assert.NotNull(held);
        Assert.Null(await b.TryAcquireLeaseAsync(runId, "b", CancellationToken.None));
        Assert.Equal("a", await b.LeaseOwnerAsync(runId, CancellationToken.None));

        await held!.DisposeAsync();
        await using var taken = await b.TryAcquireLeaseAsync(runId, "b", CancellationToken.None);
        Assert.NotNull(taken);
    }

    [RedisFact]
    public async Task TryAcquireLeaseAsync_OwnerStopsRenewing_LeaseLapsesAndAnotherTakesOver()
    {
        var runId = Guid.NewGuid().ToString("N");
        var owner = await ConnectAsync(TimeSpan.FromSeconds(1));
        var held = await owner.TryAcquireLeaseAsync(runId, "dead", CancellationToken.None);
        Assert.NotNull(held);
        await owner.DisposeAsync(); // its connection is gone: renewals fail, as when the process dies
        await using var survivor = await ConnectAsync(TimeSpan.FromSeconds(1));

        Assert.Null(await survivor.TryAcquireLeaseAsync(runId, "survivor", CancellationToken.None));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await using var taken = await survivor.TryAcquireLeaseAsync(runId, "survivor", CancellationToken.None);

        Assert.NotNull(taken);
        Assert.Equal("survivor", await survivor.LeaseOwnerAsync(runId, CancellationToken.None));
    }
}
