namespace AgentFlow.Diagnostics;

/// <summary>How serious a diagnostic is.</summary>
public enum DiagnosticSeverity
{
    /// <summary>The definition cannot run.</summary>
    Error,

    /// <summary>The definition runs, but probably not as intended.</summary>
    Warning,
}

/// <summary>
/// One problem found in a workflow or configuration file, printed like a compiler message:
/// <c>file:line:col: error AF0101: message (hint)</c>.
/// </summary>
/// <param name="Location">Where the problem is.</param>
/// <param name="Code">A stable code (AFnnnn) that tests and docs can refer to.</param>
/// <param name="Message">What is wrong.</param>
/// <param name="Hint">What to do about it, when there is something to say.</param>
/// <param name="Severity">Error or warning.</param>
public sealed record Diagnostic(
    SourceLocation Location,
    string Code,
    string Message,
    string? Hint = null,
    DiagnosticSeverity Severity = DiagnosticSeverity.Error)
{
    /// <inheritdoc />
    public override string ToString()
    {
        var kind = Severity == DiagnosticSeverity.Error ? "error" : "warning";
        return Hint is null
            ? $"{Location}: {kind} {Code}: {Message}"
            : $"{Location}: {kind} {Code}: {Message} (hint: {Hint})";
    }
}
