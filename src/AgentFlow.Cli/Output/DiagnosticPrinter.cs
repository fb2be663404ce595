using AgentFlow.Diagnostics;

namespace AgentFlow.Cli.Output;

/// <summary>Prints problems the way compilers do, so editors and CI annotate them.</summary>
internal static class DiagnosticPrinter
{
    public static void Print(TextWriter writer, IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            writer.WriteLine(diagnostic.ToString());
        }
    }

    /// <summary>Prints a multi-line user error, each line prefixed with <c>error:</c> unless it already has a location.</summary>
    public static void PrintError(TextWriter writer, string message)
    {
        foreach (var line in message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            writer.WriteLine(line.StartsWith("error", StringComparison.Ordinal) ? line : "error: " + line);
        }
    }
}
