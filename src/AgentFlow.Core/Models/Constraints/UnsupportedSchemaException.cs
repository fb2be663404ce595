namespace AgentFlow.Models.Constraints;

/// <summary>A JSON Schema uses something constrained decoding cannot follow; <see cref="Path"/> says where.</summary>
public sealed class UnsupportedSchemaException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">JSON Pointer of the offending schema (<c>/properties/id</c>; empty for the root).</param>
    /// <param name="problem">What is wrong and what to do instead.</param>
    public UnsupportedSchemaException(string path, string problem)
        : base($"JSON Schema at '{(path.Length == 0 ? "/" : path)}': {problem}")
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>JSON Pointer of the offending schema (empty for the root).</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }
}
