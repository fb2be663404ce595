namespace AgentFlow.Diagnostics;

/// <summary>A position in a source file, 1-based, as editors and compilers print it.</summary>
/// <param name="File">The file path as the user gave it.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    /// <summary>A location for a whole file when no position is known.</summary>
    public static SourceLocation StartOf(string file) => new(file, 1, 1);

    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}:{Column}";
}
