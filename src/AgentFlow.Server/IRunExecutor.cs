using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Tracking.MLflow;

namespace AgentFlow.Server;

/// <summary>
/// What the server asks of the process that hosts it: execute runs exactly as that host's own commands do (its
/// model providers, workers, conversation store and MLflow recording), and read its run records. The CLI implements
/// it for <c>agentflow serve</c>; the seam keeps the server free of the CLI (which references the server).
/// </summary>
public interface IRunExecutor
{
    /// <summary>
    /// Runs <paramref name="definition"/> to its end or its first approval. <paramref name="observer"/> receives every
    /// event, <see cref="RunStartedEvent"/> once the run is stored; the run is recorded with trigger <c>api</c>.
    /// </summary>
    Task ExecuteAsync(WorkflowDefinition definition, IReadOnlyDictionary<string, string> inputs, IReadOnlyDictionary<string, string> bindings, IRunObserver observer, CancellationToken cancellationToken);

    /// <summary>Continues the stored run <paramref name="runId"/>, answering its approval when <paramref name="answer"/> is given.</summary>
    Task ContinueAsync(string runId, ApprovalAnswer? answer, IRunObserver observer, CancellationToken cancellationToken);

    /// <summary>Opens the MLflow store runs are recorded in (the caller disposes it).</summary>
    IMlflowStore OpenTracking();

    /// <summary>The comparison <c>experiment report --name NAME --json</c> prints, or why there is none.</summary>
    Task<(JsonNode? Report, string? Problem)> CompareExperimentAsync(IMlflowStore store, string name, CancellationToken cancellationToken);
}
