using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace AgentFlow.Execution;

/// <summary>How a run ended (or where it is).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunStatus>))]
public enum RunStatus
{
    /// <summary>Steps are running.</summary>
    Running,

    /// <summary>Every step finished and the outputs were rendered.</summary>
    Succeeded,

    /// <summary>A step failed; <see cref="RunRecord.Error"/> says which and why.</summary>
    Failed,

    /// <summary>The run was cancelled.</summary>
    Cancelled,

    /// <summary>The run is parked at an approval step until someone decides; <see cref="RunRecord.Waiting"/> says where.</summary>
    Waiting,
}

/// <summary>How one execution of a step ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StepStatus>))]
public enum StepStatus
{
    /// <summary>The step is running.</summary>
    Running,

    /// <summary>The step produced its output.</summary>
    Succeeded,

    /// <summary>The step failed.</summary>
    Failed,
}

/// <summary>
/// Everything a run did: what ran, on which models, with which prompts, what came back and how long it took.
/// The CLI prints it, <c>--json</c> serializes it, and the run history persists exactly this object.
/// </summary>
public sealed class RunRecord
{
    /// <summary>Unique id of the run (32 lowercase hex characters).</summary>
    public required string RunId { get; init; }

    /// <summary>Workflow name.</summary>
    public required string Workflow { get; init; }

    /// <summary>Workflow version.</summary>
    public required int WorkflowVersion { get; init; }

    /// <summary>SHA-256 of the workflow file as run.</summary>
    public required string DefinitionSha256 { get; init; }

    /// <summary>Where the run is or how it ended.</summary>
    public RunStatus Status { get; set; } = RunStatus.Running;

    /// <summary>When the run started.</summary>
    public required DateTimeOffset Started { get; init; }

    /// <summary>When the run ended; null while it runs.</summary>
    public DateTimeOffset? Ended { get; set; }

    /// <summary>Inputs after defaults were applied, typed as declared.</summary>
    public required IReadOnlyDictionary<string, JsonNode?> Inputs { get; init; }

    /// <summary>Alias → model name actually used (after <c>--bind</c>).</summary>
    public required IReadOnlyDictionary<string, string> Bindings { get; init; }

    /// <summary>What each bound model is (provider, description, weights hash).</summary>
    public required IReadOnlyDictionary<string, ModelInfo> Models { get; init; }

    /// <summary>The run whose workflow tool or workflow step started this one as a child run; null for a top-level run.</summary>
    public string? ParentRunId { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the run's first root span, when a tracer saw the run start: a resumed run's span
    /// continues that trace as its child. Null when nothing traced the run.
    /// </summary>
    public string? TraceParent { get; set; }

    /// <summary>The conversation this run read and wrote (workflow <c>memory:</c>), if any.</summary>
    public string? ConversationId { get; set; }

    /// <summary>Every step execution in the order steps started (a step in a loop appears once per iteration).</summary>
    public List<StepRecord> Steps { get; } = [];

    /// <summary>Rendered workflow outputs, when the run succeeded.</summary>
    public Dictionary<string, string> Outputs { get; } = new(StringComparer.Ordinal);

    /// <summary>Why the run failed, when it did.</summary>
    public RunError? Error { get; set; }

    /// <summary>The approval the run is parked at, while <see cref="Status"/> is <see cref="RunStatus.Waiting"/>.</summary>
    public WaitingApproval? Waiting { get; set; }

    /// <summary>
    /// A copy of <see cref="Steps"/> and <see cref="Outputs"/> that is safe to take while the run is still adding to
    /// them (observers writing on another thread, e.g. the MLflow recorder); the runner adds under the same lock.
    /// </summary>
    public (StepRecord[] Steps, KeyValuePair<string, string>[] Outputs) Snapshot()
    {
        lock (Steps)
        {
            return ([.. Steps], [.. Outputs]);
        }
    }

    /// <summary>Total input tokens over all agent steps.</summary>
    public long InputTokens => Steps.Sum(s => (long)(s.InputTokens ?? 0));

    /// <summary>Total output tokens over all agent steps.</summary>
    public long OutputTokens => Steps.Sum(s => (long)(s.OutputTokens ?? 0));

    /// <summary>Total cost over all agent steps in US dollars, when the bound models have prices.</summary>
    public double? CostUsd => Steps.Any(s => s.CostUsd is not null) ? Steps.Sum(s => s.CostUsd ?? 0) : null;

    /// <summary>Wall time of the run in milliseconds, when ended.</summary>
    public double? DurationMs => Ended is { } end ? (end - Started).TotalMilliseconds : null;
}

/// <summary>A model as a run used it.</summary>
/// <param name="Name">Registry name.</param>
/// <param name="Provider">Provider name.</param>
/// <param name="Description">What it is (file or endpoint); never a secret.</param>
/// <param name="FileSha256">Weights file hash for local models.</param>
public sealed record ModelInfo(string Name, string Provider, string Description, string? FileSha256);

/// <summary>Why a run failed.</summary>
/// <param name="StepId">The failing step, or null when the failure was not in a step.</param>
/// <param name="Message">What went wrong, for a person.</param>
public sealed record RunError(string? StepId, string Message);

/// <summary>One execution of one step.</summary>
public sealed class StepRecord
{
    /// <summary>Step id.</summary>
    public required string Id { get; init; }

    /// <summary><c>agent</c>, <c>switch</c>, <c>parallel</c>, <c>loop</c>, <c>approval</c>, <c>retrieve</c> or <c>workflow</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Model alias (agent steps).</summary>
    public string? ModelAlias { get; init; }

    /// <summary>Registry model name bound to the alias (agent steps).</summary>
    public string? Model { get; init; }

    /// <summary>Iteration of the innermost enclosing loop (1-based), null outside loops.</summary>
    public int? Iteration { get; init; }

    /// <summary>1-based attempt number: a retried or redelivered step has one record per attempt.</summary>
    public int Attempt { get; init; } = 1;

    /// <summary>Which process answered (a worker id; null when the model ran in this process).</summary>
    public string? Worker { get; set; }

    /// <summary>Milliseconds the step request waited in its queue before a worker took it; null when no worker answered.</summary>
    public double? QueueWaitMs { get; set; }

    /// <summary>Milliseconds the model call took on the worker that answered; null when the model ran in this process.</summary>
    public double? ModelMs { get; set; }

    /// <summary>Cost of this attempt in US dollars, when the model has a price.</summary>
    public double? CostUsd { get; set; }

    /// <summary>How it ended.</summary>
    public StepStatus Status { get; set; } = StepStatus.Running;

    /// <summary>When it started.</summary>
    public required DateTimeOffset Started { get; init; }

    /// <summary>How long it took in milliseconds.</summary>
    public double LatencyMs { get; set; }

    /// <summary>Rendered system message (agent steps).</summary>
    public string? System { get; init; }

    /// <summary>Prior conversation messages sent before the prompt (steps with <c>memory: { read: true }</c>).</summary>
    public int? MemoryMessages { get; set; }

    /// <summary>Rendered prompt (agent steps).</summary>
    public string? Prompt { get; init; }

    /// <summary>Prompt tokens as the model counted them.</summary>
    public int? InputTokens { get; set; }

    /// <summary>Generated tokens as the model counted them.</summary>
    public int? OutputTokens { get; set; }

    /// <summary>Why generation stopped (<c>stop</c>, <c>length</c>).</summary>
    public string? FinishReason { get; set; }

    /// <summary>The output (text, or JSON for a parallel step).</summary>
    public string? Output { get; set; }

    /// <summary>For a switch: the case taken (<c>case 1</c>, <c>default</c>, <c>none</c>); for a loop: iterations run.</summary>
    public string? Detail { get; set; }

    /// <summary>An approval step's request and decision; null for other steps.</summary>
    public ApprovalRecord? Approval { get; set; }

    /// <summary>What a retrieve step searched and the chunks it found (ids, sources, scores, text); null for other steps.</summary>
    public RetrievalRecord? Retrieval { get; set; }

    /// <summary>Error message when the step failed.</summary>
    public string? Error { get; set; }

    /// <summary>The run whose recorded output this step reused instead of calling its model (replays); null when it ran live.</summary>
    public string? ReplayedFrom { get; init; }

    /// <summary>The child run a workflow step started (or continued) in this attempt; null for other steps.</summary>
    public string? ChildRunId { get; set; }

    /// <summary>The tool calls of this attempt, in the order they were made; null when the model made none.</summary>
    public List<ToolCallRecord>? ToolCalls { get; set; }

    /// <summary>A copy of <see cref="ToolCalls"/> safe to take while the step is still calling tools.</summary>
    public ToolCallRecord[] ToolCallsSnapshot()
    {
        if (ToolCalls is not { } calls)
        {
            return [];
        }

        lock (calls)
        {
            return [.. calls];
        }
    }
}

/// <summary>Where a parked run waits.</summary>
/// <param name="StepId">The approval step.</param>
/// <param name="Message">The question, rendered.</param>
/// <param name="Show">What to review, rendered; null when the step shows nothing.</param>
/// <param name="RequestedAt">When the run parked.</param>
/// <param name="Deadline">When the timeout applies; null when it waits without limit.</param>
/// <param name="OnTimeout">What the timeout decides: reject, approve or fail.</param>
/// <param name="Iteration">The loop iteration, inside a loop.</param>
/// <param name="Tool">For a tool call waiting for approval (a tool with <c>approve: true</c>): the tool's name as the
/// model called it; <see cref="StepId"/> is then the agent step. Null for an approval step.</param>
/// <param name="Arguments">For a tool call: its arguments as compact JSON, already checked against the tool's schema.</param>
public sealed record WaitingApproval(
    string StepId, string Message, string? Show, DateTimeOffset RequestedAt, DateTimeOffset? Deadline, string OnTimeout, int? Iteration,
    string? Tool = null, string? Arguments = null);

/// <summary>An approval step's question and answer, as kept in the run record and its audit chain.</summary>
public sealed class ApprovalRecord
{
    /// <summary>The question, rendered.</summary>
    public required string Message { get; init; }

    /// <summary>What was shown for review, rendered.</summary>
    public string? Show { get; init; }

    /// <summary>When the timeout applies, if any.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary><c>approved</c> or <c>rejected</c>; null while waiting.</summary>
    public string? Decision { get; set; }

    /// <summary>Who decided (<c>--as</c>, else the OS user); <c>timeout</c> when the timeout decided.</summary>
    public string? DecidedBy { get; set; }

    /// <summary>When the decision was made.</summary>
    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>The approver's comment.</summary>
    public string? Comment { get; set; }
}

/// <summary>A retrieve step's search and what it found, as kept in the run record, its transcript and audit chain.</summary>
public sealed class RetrievalRecord
{
    /// <summary>The collection searched.</summary>
    public required string Collection { get; init; }

    /// <summary>The query, rendered.</summary>
    public required string Query { get; init; }

    /// <summary>How many chunks were asked for.</summary>
    public required int TopK { get; init; }

    /// <summary>The score below which chunks were dropped, if any.</summary>
    public double? MinScore { get; init; }

    /// <summary>The chunks found, best first.</summary>
    public required IReadOnlyList<Retrieval.RetrievedChunk> Chunks { get; init; }
}
