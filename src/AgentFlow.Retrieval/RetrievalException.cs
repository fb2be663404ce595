namespace AgentFlow.Retrieval;

/// <summary>A collection cannot be used: store unreachable, dimensions that do not match, nothing indexed yet.</summary>
public sealed class RetrievalException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public RetrievalException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public RetrievalException(string message, Exception? innerException) : base(message, innerException) { }
}
