using AgentFlow.Diagnostics;

namespace AgentFlow;

/// <summary>Base of every error AgentFlow reports to a user; its message says what to do.</summary>
public class AgentFlowException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AgentFlowException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public AgentFlowException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>A workflow or configuration file is invalid; <see cref="Diagnostics"/> lists every problem found.</summary>
public sealed class DefinitionException : AgentFlowException
{
    /// <summary>Creates the exception from the diagnostics that made the file invalid.</summary>
    public DefinitionException(IReadOnlyList<Diagnostic> diagnostics)
        : base(Describe(diagnostics)) => Diagnostics = diagnostics;

    /// <summary>Every problem found, in file order.</summary>
    public IReadOnlyList<Diagnostic> Diagnostics { get; }

    private static string Describe(IReadOnlyList<Diagnostic> diagnostics) =>
        diagnostics.Count == 0 ? "The definition is invalid." : string.Join(Environment.NewLine, diagnostics);
}

/// <summary>A model cannot be used: unknown name, missing file, missing API key variable, load failure.</summary>
public sealed class ModelConfigurationException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public ModelConfigurationException(string message, Exception? innerException = null) : base(message, innerException) { }
}

/// <summary>Inputs given for a run do not match the workflow's declared inputs.</summary>
public sealed class InputException : AgentFlowException
{
    /// <summary>Creates the exception listing every input problem.</summary>
    public InputException(IReadOnlyList<string> problems)
        : base(string.Join(Environment.NewLine, problems)) => Problems = problems;

    /// <summary>Every problem with the inputs.</summary>
    public IReadOnlyList<string> Problems { get; }
}

/// <summary>A step failed while the workflow ran.</summary>
public sealed class StepFailedException : AgentFlowException
{
    /// <summary>Creates the exception for <paramref name="stepId"/>.</summary>
    public StepFailedException(string stepId, string reason, Exception? innerException = null)
        : base($"step '{stepId}' failed: {reason}", innerException)
    {
        StepId = stepId;
        Reason = reason;
    }

    /// <summary>The id of the step that failed.</summary>
    public string StepId { get; }

    /// <summary>Why it failed, without the step prefix.</summary>
    public string Reason { get; }
}
