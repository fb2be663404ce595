using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>
/// Stands in for a step whose kind or body could not be read (already reported), so that its id stays declared and
/// references to it do not cascade into further errors. Never part of a definition handed out by the loader.
/// </summary>
internal sealed record UnreadableStepDefinition(string Id, SourceLocation Location) : StepDefinition(Id, Location)
{
    /// <inheritdoc />
    public override IEnumerable<StepDefinition> Children => [];
}
