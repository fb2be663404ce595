using System.Diagnostics.CodeAnalysis;
using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>A parsed, validated workflow file: what <c>workflows/*.yaml</c> says, with source locations (a record, so a changed copy can be made with <c>with</c>).</summary>
public sealed record WorkflowDefinition
{
    /// <summary>Workflow name: lowercase letters, digits and '-'.</summary>
    public required string Name { get; init; }

    /// <summary>Version of the definition, chosen by its author.</summary>
    public required int Version { get; init; }

    /// <summary>What the workflow does.</summary>
    public string? Description { get; init; }

    /// <summary>Declared inputs, in file order.</summary>
    public required IReadOnlyList<InputDefinition> Inputs { get; init; }

    /// <summary>Model aliases used by steps, each bound by default to a model name of the registry, in file order.</summary>
    public required IReadOnlyList<ModelAliasDefinition> Models { get; init; }

    /// <summary>The conversation steps read and write (<c>memory:</c>); null when the workflow has none.</summary>
    public MemoryDefinition? Memory { get; init; }

    /// <summary>Per-run limits (<c>budget:</c>); null for none.</summary>
    public BudgetDefinition? Budget { get; init; }

    /// <summary>Timeout and retry defaults for agent steps (<c>defaults:</c>).</summary>
    public StepPolicy Defaults { get; init; } = StepPolicy.None;

    /// <summary>What makes a split binding sticky (<c>split_key: "{{ inputs.customer_id }}"</c>, inputs only); null: each run draws by weight.</summary>
    public TemplateText? SplitKey { get; init; }

    /// <summary>Tools agent steps may offer their models (<c>tools:</c>), in file order.</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];

    /// <summary>Top-level steps, in order.</summary>
    public required IReadOnlyList<StepDefinition> Steps { get; init; }

    /// <summary>Named outputs: Liquid templates rendered when the run ends, in file order.</summary>
    public required IReadOnlyList<OutputDefinition> Outputs { get; init; }

    /// <summary>Path of the file as given by the user.</summary>
    public required string FilePath { get; init; }

    /// <summary>The file's text exactly as read; the run record keeps it.</summary>
    public required string SourceText { get; init; }

    /// <summary>Lowercase hex SHA-256 of <see cref="SourceText"/> (UTF-8); pins a run to its definition.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Every step in the workflow, depth first in file order (composites before their children).</summary>
    public IEnumerable<StepDefinition> AllSteps() => StepDefinition.Flatten(Steps);
}

/// <summary>A value type an input may declare.</summary>
[SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Members mirror the YAML type keywords.")]
public enum InputType
{
    /// <summary>Any text.</summary>
    String,

    /// <summary>A number (integer or decimal).</summary>
    Number,

    /// <summary>An integer.</summary>
    Integer,

    /// <summary><c>true</c> or <c>false</c>.</summary>
    Boolean,
}

/// <summary>A declared workflow input.</summary>
/// <param name="Name">Input name, used in templates as <c>inputs.NAME</c>.</param>
/// <param name="Type">Value type.</param>
/// <param name="Required">Whether a run must give it.</param>
/// <param name="Default">Value used when a run does not give it (as written in the file).</param>
/// <param name="Description">What it is for.</param>
/// <param name="Location">Where it is declared.</param>
public sealed record InputDefinition(
    string Name, InputType Type, bool Required, string? Default, string? Description, SourceLocation Location);

/// <summary>A model alias and the registry model it is bound to by default.</summary>
/// <param name="Alias">The name steps use.</param>
/// <param name="Model">The registry model name it is bound to unless re-bound with <c>--bind</c>.</param>
/// <param name="Location">Where it is declared.</param>
public sealed record ModelAliasDefinition(string Alias, string Model, SourceLocation Location)
{
    /// <summary>
    /// A weighted traffic split (<c>writer: { qwen: 80, phi: 20 }</c>): each run binds the alias to one of these models,
    /// sticky by the workflow's <see cref="WorkflowDefinition.SplitKey"/>; empty for a plain binding. <see cref="Model"/>
    /// is then the heaviest model (what a run uses when the split is not applied, e.g. under <c>--bind</c>).
    /// </summary>
    public IReadOnlyList<ModelWeight> Split { get; init; } = [];
}

/// <summary>One arm of a weighted split binding.</summary>
/// <param name="Model">Registry model.</param>
/// <param name="Weight">Relative weight (0 or more; the weights need not sum to 100).</param>
public sealed record ModelWeight(string Model, int Weight);

/// <summary>A named workflow output.</summary>
/// <param name="Name">Output name.</param>
/// <param name="Template">Liquid template producing it.</param>
public sealed record OutputDefinition(string Name, TemplateText Template);

/// <summary>Liquid text (a prompt or a condition) with where it starts in the file.</summary>
/// <param name="Text">The template or condition text.</param>
/// <param name="Location">Where the value starts.</param>
public sealed record TemplateText(string Text, SourceLocation Location)
{
    /// <summary>Where each character of <see cref="Text"/> is in the file, when the loader knows (not part of equality).</summary>
    internal Yaml.TemplateSourceMap? SourceMap { get; init; }

    /// <summary>
    /// Where character <paramref name="index"/> of <see cref="Text"/> is in the file: exact when the loader mapped the
    /// scalar, else counted from <see cref="Location"/> on a one-line text, else <see cref="Location"/> itself.
    /// </summary>
    public SourceLocation LocationOf(int index)
    {
        index = Math.Clamp(index, 0, Text.Length);
        if (SourceMap is { } map)
        {
            return map.At(index);
        }

        return Text.AsSpan(0, index).Contains('\n') ? Location : Location with { Column = Location.Column + index };
    }

    /// <summary>Equal when the text and its location are.</summary>
    public bool Equals(TemplateText? other) =>
        other is not null && Text == other.Text && Location == other.Location;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Text, Location);

    /// <inheritdoc />
    public override string ToString() => Text;
}
