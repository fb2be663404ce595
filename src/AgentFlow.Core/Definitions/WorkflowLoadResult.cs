using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>The outcome of reading a workflow file: the definition when it is valid, and every diagnostic found.</summary>
/// <param name="Definition">The definition, or null when any error was found.</param>
/// <param name="Diagnostics">Errors and warnings in file order.</param>
public sealed record WorkflowLoadResult(WorkflowDefinition? Definition, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the file has no error (warnings allowed).</summary>
    public bool Succeeded => Definition is not null;

    /// <summary>The definition, or a <see cref="DefinitionException"/> listing every error.</summary>
    public WorkflowDefinition GetDefinitionOrThrow() =>
        Definition ?? throw new DefinitionException([.. Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)]);
}
