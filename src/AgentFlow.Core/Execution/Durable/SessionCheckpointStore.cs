using System.Text.Json;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Agents.AI.Workflows.Checkpointing;

namespace AgentFlow.Execution.Durable;

/// <summary>
/// The engine's checkpoints of every run of a store, routed by session id: the runner starts and resumes each run
/// with its run id as the engine's session id, so a call for session <c>x</c> goes to <c>runs.Checkpoints(x)</c>.
/// </summary>
/// <remarks>
/// Why one store for all runs: Agent Framework's JSON checkpoint manager builds its own <see cref="JsonSerializerOptions"/>
/// when it is created, so a manager per run configured the checkpoint types' JSON metadata again on every run
/// (reflection, emitted accessors later finalized): about a fifth of the bytes a step allocated. A runner keeps one
/// manager over this store instead.
/// </remarks>
internal sealed class SessionCheckpointStore(IRunStore runs) : JsonCheckpointStore
{
    public override ValueTask<CheckpointInfo> CreateCheckpointAsync(string sessionId, JsonElement value, CheckpointInfo? parent = null) =>
        runs.Checkpoints(sessionId).CreateCheckpointAsync(sessionId, value, parent);

    public override ValueTask<JsonElement> RetrieveCheckpointAsync(string sessionId, CheckpointInfo key) =>
        runs.Checkpoints(sessionId).RetrieveCheckpointAsync(sessionId, key);

    public override ValueTask<IEnumerable<CheckpointInfo>> RetrieveIndexAsync(string sessionId, CheckpointInfo? withParent = null) =>
        runs.Checkpoints(sessionId).RetrieveIndexAsync(sessionId, withParent);
}
