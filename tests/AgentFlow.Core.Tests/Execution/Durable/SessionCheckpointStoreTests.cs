using System.Text.Json;
using AgentFlow.Execution.Durable;
using CheckpointInfo = Microsoft.Agents.AI.Workflows.CheckpointInfo;

namespace AgentFlow.Core.Tests.Execution.Durable;

/// <summary>One checkpoint store for all runs of a runner: each session's checkpoints land in, and come from, its own run.</summary>
public sealed class SessionCheckpointStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("agentflow-sessioncheckpoints-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task CreateCheckpointAsync_TwoSessionsInterleaved_EachRunHoldsOnlyItsOwnInOrder()
    {
        await using var runs = new FileRunStore(_root);
        var shared = new SessionCheckpointStore(runs);
        var created = new Dictionary<string, List<CheckpointInfo>> { ["runA"] = [], ["runB"] = [] };
        for (var i = 0; i < 3; i++)
        {
            foreach (var session in new[] { "runA", "runB" })
            {
                using var document = JsonDocument.Parse($"{{\"run\":\"{session}\",\"step\":{i}}}");
                created[session].Add(await shared.CreateCheckpointAsync(session, document.RootElement, created[session].LastOrDefault()));
            }
        }

        foreach (var session in new[] { "runA", "runB" })
        {
            // Read back through the run's own store, as a resume in a new process does.
            var index = (await new FileRunStore(_root).Checkpoints(session).RetrieveIndexAsync(session)).ToList();
            var last = await shared.RetrieveCheckpointAsync(session, created[session][^1]);

            Assert.Equal(created[session].Select(c => c.CheckpointId), index.Select(c => c.CheckpointId));
            Assert.Equal(session, last.GetProperty("run").GetString());
            Assert.Equal(2, last.GetProperty("step").GetInt32());
        }
    }

    [Fact]
    public async Task RetrieveCheckpointAsync_OtherSessionsCheckpoint_Throws()
    {
        await using var runs = new FileRunStore(_root);
        var shared = new SessionCheckpointStore(runs);
        using var document = JsonDocument.Parse("{\"step\":0}");
        var ofA = await shared.CreateCheckpointAsync("runA", document.RootElement);

        await Assert.ThrowsAsync<RunStoreException>(async () => await shared.RetrieveCheckpointAsync("runB", ofA));
    }
}
