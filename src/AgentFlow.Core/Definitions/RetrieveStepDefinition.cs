using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>
/// Searches a collection of embedded documents (<c>retrieve: { collection: kb, query: "{{ inputs.ticket }}", top_k: 4,
/// min_score: 0.3 }</c>). Its output is the ranked chunks: <c>steps.ID.output</c> renders them in the default format
/// (see <see cref="Retrieval.RetrievalFormat"/>) and <c>steps.ID.chunks</c> lists them for Liquid loops
/// (<c>text</c>, <c>source</c>, <c>heading</c>, <c>score</c>, <c>id</c>).
/// </summary>
public sealed record RetrieveStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <summary>Most chunks a step may ask for.</summary>
    public const int MaxTopK = 100;

    /// <summary>Chunks returned when the step sets no top_k.</summary>
    public const int DefaultTopK = 4;

    /// <summary>The collection searched (the registry's, or one <c>agentflow index</c> created).</summary>
    public required string Collection { get; init; }

    /// <summary>Where the collection is named, for errors about it.</summary>
    public required SourceLocation CollectionLocation { get; init; }

    /// <summary>The search text (Liquid).</summary>
    public required TemplateText Query { get; init; }

    /// <summary>How many chunks at most, best first.</summary>
    public int TopK { get; init; } = DefaultTopK;

    /// <summary>Chunks scoring below this cosine similarity are dropped; null keeps all <see cref="TopK"/>.</summary>
    public double? MinScore { get; init; }

    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => [];
}
