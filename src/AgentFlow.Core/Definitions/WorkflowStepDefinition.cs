using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>
/// Runs another workflow file as a child run (<c>workflow: { file: other.yaml, inputs: { a: "{{ inputs.b }}" } }</c>):
/// the child has its own record (run store, MLflow run, transcript, seal) naming this run as its parent. Its
/// outputs are this step's output, a JSON object read as <c>steps.ID.output.NAME</c>.
/// </summary>
public sealed record WorkflowStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>The child workflow file as written, relative to this workflow's folder.</summary>
    public required string File { get; init; }

    /// <summary>Where <c>file</c> is written, for errors about the child.</summary>
    public required SourceLocation FileLocation { get; init; }

    /// <summary>The child's inputs: name → Liquid template over this workflow's inputs and earlier steps.</summary>
    public IReadOnlyList<WorkflowStepInput> Inputs { get; init; } = [];

    /// <summary>Time allowed for one child run; null: no limit beyond the child's own step timeouts.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Retry policy (each attempt is a new child run); null: one attempt.</summary>
    public RetryDefinition? Retry { get; init; }

    /// <summary>
    /// The child's structure (inputs, outputs, steps; not validated), read once on first use; null when the file
    /// cannot be read. Validation uses it for the child's inputs and outputs without running the child's own checks.
    /// </summary>
    internal Lazy<WorkflowDefinition?> Child { get; init; } = new(() => null);

    /// <summary>The child's output names (what <c>steps.ID.output.NAME</c> may read); null when the child cannot be read.</summary>
    public IReadOnlyList<string>? ChildOutputs => Child.Value?.Outputs.Select(o => o.Name).ToList();

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => [];

    /// <summary>The full path of <paramref name="file"/> relative to <paramref name="declaringFile"/>'s folder; null when it is not a usable path.</summary>
    public static string? TryResolve(string declaringFile, string file)
    {
        try
        {
            return Validation.ToolValidator.ResolvePath(declaringFile, file);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return null;
        }
    }
}

/// <summary>One input a workflow step passes to its child.</summary>
/// <param name="Name">The child's input name.</param>
/// <param name="Value">Liquid template rendered when the step runs.</param>
/// <param name="NameLocation">Where the name is written.</param>
public sealed record WorkflowStepInput(string Name, TemplateText Value, SourceLocation NameLocation);
