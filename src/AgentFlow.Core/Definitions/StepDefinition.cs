using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>A step of a workflow: an agent call or a composite (switch, parallel, loop).</summary>
/// <param name="Id">Unique id across the whole workflow; templates refer to it as <c>steps.ID.output</c>.</param>
/// <param name="Location">Where the step starts in the file.</param>
public abstract record StepDefinition(string Id, SourceLocation Location)
{
    /// <summary>The steps directly inside this one (none for an agent step).</summary>
    public abstract IEnumerable<StepDefinition> Children { get; }

    /// <summary>Depth-first, file-order walk of <paramref name="steps"/> and everything inside them.</summary>
    public static IEnumerable<StepDefinition> Flatten(IEnumerable<StepDefinition> steps)
    {
        foreach (var step in steps)
        {
            yield return step;
            foreach (var child in Flatten(step.Children))
            {
                yield return child;
            }
        }
    }
}

/// <summary>Calls a model: renders the prompt, sends it to the model bound to <see cref="ModelAlias"/>, keeps the answer.</summary>
public sealed record AgentStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>The model alias (declared under <c>models:</c>).</summary>
    public required string ModelAlias { get; init; }

    /// <summary>Where the alias is named, for errors about it.</summary>
    public required SourceLocation ModelAliasLocation { get; init; }

    /// <summary>Optional system message (Liquid).</summary>
    public TemplateText? System { get; init; }

    /// <summary>The user prompt (Liquid).</summary>
    public required TemplateText Prompt { get; init; }

    /// <summary>Most tokens the model may generate; null means the default (256).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Sampling temperature; 0 is greedy and deterministic. Null means the model's default.</summary>
    public float? Temperature { get; init; }

    /// <summary>Nucleus sampling; null means the model's default.</summary>
    public float? TopP { get; init; }

    /// <summary>Sampling seed; null means the model's default.</summary>
    public long? Seed { get; init; }

    /// <summary>Texts that end generation when produced.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Time allowed for one attempt; null means the workflow default (<see cref="StepPolicy.DefaultTimeout"/> if none).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Retry policy; null means the workflow default (one attempt if none).</summary>
    public RetryDefinition? Retry { get; init; }

    /// <summary>
    /// Registry models that answer, in order, when the bound model fails or times out on every attempt
    /// (<c>fallback: [gpt, qwen]</c>); empty for none.
    /// </summary>
    public IReadOnlyList<string> Fallback { get; init; } = [];

    /// <summary>Where <c>fallback</c> is written, for errors about its models.</summary>
    public Diagnostics.SourceLocation? FallbackLocation { get; init; }

    /// <summary>Conversational memory use (<c>memory:</c> in the agent block); null when the step uses none.</summary>
    public StepMemoryDefinition? Memory { get; init; }

    /// <summary>Names of the workflow tools the model may call (<c>tools: [lookup_order]</c>); empty for none.</summary>
    public IReadOnlyList<string> Tools { get; init; } = [];

    /// <summary>Where <c>tools</c> is written, for errors about its names.</summary>
    public SourceLocation? ToolsLocation { get; init; }

    /// <summary>How the model may use its tools (<c>tool_choice</c>); null means auto.</summary>
    public ToolChoiceDefinition? ToolChoice { get; init; }

    /// <summary>Most tool calls per attempt (<c>max_tool_calls</c>); then the model must answer. Null means the default (8).</summary>
    public int? MaxToolCalls { get; init; }

    /// <summary>Structured output (<c>output: { schema: … }</c>): the answer must be JSON valid under the schema; null for text.</summary>
    public StructuredOutputDefinition? Output { get; init; }

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => [];
}

/// <summary>Takes exactly one path: the first case whose condition holds, else the default (if any).</summary>
public sealed record SwitchStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>Cases in order; the first whose condition holds is taken.</summary>
    public required IReadOnlyList<SwitchCaseDefinition> Cases { get; init; }

    /// <summary>Steps run when no case holds; null when the switch has no default (then it does nothing).</summary>
    public IReadOnlyList<StepDefinition>? Default { get; init; }

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children =>
        Cases.SelectMany(c => c.Steps).Concat(Default ?? []);
}

/// <summary>One case of a switch.</summary>
/// <param name="When">Liquid condition.</param>
/// <param name="Steps">Steps run when the case is taken.</param>
/// <param name="Location">Where the case starts.</param>
public sealed record SwitchCaseDefinition(TemplateText When, IReadOnlyList<StepDefinition> Steps, SourceLocation Location);

/// <summary>Runs its branches at the same time; its output maps each branch id to that branch's output.</summary>
public sealed record ParallelStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>The branches, each a single step (which may itself be a composite).</summary>
    public required IReadOnlyList<StepDefinition> Branches { get; init; }

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => Branches;
}

/// <summary>Runs its steps repeatedly until <see cref="Until"/> holds; fails at <see cref="MaxIterations"/>.</summary>
public sealed record LoopStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>Upper bound on iterations (required: loops are never unbounded).</summary>
    public required int MaxIterations { get; init; }

    /// <summary>Liquid condition checked after each iteration; the loop ends when it holds.</summary>
    public required TemplateText Until { get; init; }

    /// <summary>Steps of one iteration.</summary>
    public required IReadOnlyList<StepDefinition> Steps { get; init; }

    /// <summary>
    /// What happens when <see cref="MaxIterations"/> is reached without <see cref="Until"/> holding:
    /// fail the run (default) or continue with the last iteration's output.
    /// </summary>
    public LoopExhaustedBehavior OnExhausted { get; init; } = LoopExhaustedBehavior.Fail;

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => Steps;
}

/// <summary>What a loop does when it runs out of iterations.</summary>
public enum LoopExhaustedBehavior
{
    /// <summary>The run fails, naming the loop.</summary>
    Fail,

    /// <summary>The loop ends with its last iteration's output.</summary>
    Continue,
}

/// <summary>How often a failed or timed-out agent step is tried again.</summary>
/// <param name="Attempts">Total attempts including the first (1 = no retry).</param>
/// <param name="Backoff">Delay before the first retry; later retries back off exponentially, with jitter.</param>
public sealed record RetryDefinition(int Attempts, TimeSpan Backoff);

/// <summary>Defaults for every agent step of a workflow (<c>defaults:</c>).</summary>
/// <param name="Timeout">Time allowed for one attempt.</param>
/// <param name="Retry">Retry policy.</param>
public sealed record StepPolicy(TimeSpan? Timeout, RetryDefinition? Retry)
{
    /// <summary>Time allowed for one attempt when neither the step nor the workflow says.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>No defaults.</summary>
    public static StepPolicy None { get; } = new(null, null);
}

/// <summary>An agent step's <c>output: { schema: … }</c>.</summary>
/// <param name="Schema">The JSON Schema, as compact JSON text.</param>
/// <param name="Fields">The schema's top-level property names: the fields later steps may read as <c>steps.ID.output.NAME</c>.</param>
/// <param name="Location">Where <c>output</c> is written.</param>
public sealed record StructuredOutputDefinition(string Schema, IReadOnlyList<string> Fields, Diagnostics.SourceLocation Location);

/// <summary>How an agent step uses the workflow's conversation.</summary>
/// <param name="Read">Prior turns are sent as chat messages before the step's prompt.</param>
/// <param name="Write">The step's prompt and the model's answer are appended as one turn.</param>
/// <param name="WindowMessages">Send at most this many of the latest messages (whole turns).</param>
/// <param name="WindowTokens">Send at most this many tokens of the latest turns, counted with the bound model's tokenizer.</param>
/// <param name="Location">Where the block is written.</param>
public sealed record StepMemoryDefinition(bool Read, bool Write, int? WindowMessages, int? WindowTokens, Diagnostics.SourceLocation Location);

/// <summary>The conversation a workflow's steps share across runs (<c>memory:</c> at the top level).</summary>
/// <param name="Conversation">Liquid template over inputs naming the conversation, e.g. <c>{{ inputs.customer_id }}</c>.</param>
/// <param name="Ttl">How long a conversation is kept after its last write; null keeps it.</param>
public sealed record MemoryDefinition(TemplateText Conversation, TimeSpan? Ttl);

/// <summary>Limits one run may not exceed (<c>budget:</c>); the run stops with a clear message when one is crossed.</summary>
/// <param name="MaxCostUsd">Most US dollars over all agent steps (models need prices for this to count).</param>
/// <param name="MaxTokens">Most input + output tokens over all agent steps.</param>
public sealed record BudgetDefinition(double? MaxCostUsd, long? MaxTokens);

/// <summary>
/// A human decision: the run parks (status <c>waiting</c>, nothing held in memory) until someone approves or
/// rejects, or the timeout applies <see cref="OnTimeout"/>. Later steps read <c>steps.ID.approved</c>,
/// <c>steps.ID.comment</c> and <c>steps.ID.decided_by</c>; <c>steps.ID.output</c> is <c>approved</c> or <c>rejected</c>.
/// </summary>
public sealed record ApprovalStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>The question shown to the approver (Liquid).</summary>
    public required TemplateText Message { get; init; }

    /// <summary>What the approver reviews, e.g. a draft (Liquid); optional.</summary>
    public TemplateText? Show { get; init; }

    /// <summary>How long the run may wait for a decision; forever when null.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>What a timeout decides. Default: reject.</summary>
    public ApprovalTimeoutBehavior OnTimeout { get; init; } = ApprovalTimeoutBehavior.Reject;

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => [];
}

/// <summary>What an approval's timeout decides.</summary>
public enum ApprovalTimeoutBehavior
{
    /// <summary>Continue as rejected (<c>steps.ID.approved</c> is false).</summary>
    Reject,

    /// <summary>Continue as approved.</summary>
    Approve,

    /// <summary>Fail the run at the approval step.</summary>
    Fail,
}
