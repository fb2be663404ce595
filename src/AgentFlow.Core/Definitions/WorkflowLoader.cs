using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using AgentFlow.Definitions.Yaml;
using AgentFlow.Diagnostics;
using AgentFlow.Validation;

namespace AgentFlow.Definitions;

/// <summary>
/// Reads a workflow file into a <see cref="WorkflowDefinition"/>, reporting every problem at once, in file order,
/// each at its <c>file:line:col</c> — YAML syntax, duplicate keys, unknown or misspelt keys, missing keys, wrong
/// types, invalid names — and then runs the <see cref="WorkflowValidator"/> (ids, references, templates, flow).
/// Never throws on bad input.
/// </summary>
/// <remarks>
/// Codes: AF01xx are about the file's structure and values, AF02xx about references between its parts, AF03xx
/// about Liquid templates and conditions. <see cref="WorkflowValidator"/> documents which steps a template may read.
/// </remarks>
public static partial class WorkflowLoader
{
    /// <summary>Most attempts a retry policy may declare.</summary>
    public const int MaxAttempts = 10;

    /// <summary>Most iterations a loop may declare.</summary>
    public const int MaxLoopIterations = 100;

    /// <summary>
    /// Builds the template engine's parser now (about 0.2 s of JIT on a cold process), so a host can overlap that with
    /// its other start-up work on a background thread; loading a workflow builds it on first use otherwise.
    /// </summary>
    public static void PrepareTemplates() => _ = Templates.LiquidEngine.Parser;

    /// <summary>Reads and checks the file at <paramref name="path"/>; a missing or unreadable file is a diagnostic too (AF0100).</summary>
    /// <param name="path">The file, as the user gave it; diagnostics carry it unchanged.</param>
    public static WorkflowLoadResult Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            // Checked before reading, so a huge file is never loaded into memory.
            if (new FileInfo(path) is { Exists: true, Length: > WorkflowLimits.MaxFileBytes } big)
            {
                return new WorkflowLoadResult(null, [TooLarge(path, big.Length)]);
            }

            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException)
        {
            var reason = ex switch
            {
                FileNotFoundException or DirectoryNotFoundException => "file not found",
                UnauthorizedAccessException => "permission denied",
                _ => ex.Message.TrimEnd('.'),
            };
            return new WorkflowLoadResult(null, [new Diagnostic(SourceLocation.StartOf(path), "AF0100", $"cannot read workflow: {reason}", "check the path and that the file is readable")]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and checks workflow <paramref name="text"/>; <paramref name="path"/> is used in locations.</summary>
    /// <returns>The definition when no error was found (warnings allowed), and every diagnostic ordered by location.</returns>
    public static WorkflowLoadResult Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(path);
        if (text.Length > WorkflowLimits.MaxFileBytes / 4 && Encoding.UTF8.GetByteCount(text) is var bytes && bytes > WorkflowLimits.MaxFileBytes)
        {
            return new WorkflowLoadResult(null, [TooLarge(path, bytes)]);
        }

        var diagnostics = new List<Diagnostic>();
        WorkflowDefinition? definition = null;
        try
        {
            var root = YamlTree.Parse(text, path, diagnostics);
            definition = root is null ? null : new Reader(path, text, diagnostics).Read(root);
            if (root is null && diagnostics.Count == 0)
            {
                diagnostics.Add(new Diagnostic(SourceLocation.StartOf(path), "AF0103", "the workflow file is empty", "start with name:, version: and steps:"));
            }

            if (definition is not null)
            {
                diagnostics.AddRange(WorkflowValidator.Validate(definition));
            }
        }
        catch (Exception ex) when (ex is not (OutOfMemoryException or StackOverflowException or OperationCanceledException))
        {
            // Last resort: bad input must never surface as an exception or a stack trace.
            definition = null;
            diagnostics.Add(new Diagnostic(SourceLocation.StartOf(path), "AF0199", $"the workflow could not be read: {ex.GetType().Name}: {ex.Message}",
                "this is a bug in AgentFlow's loader; please report it with the file"));
        }

        var ordered = diagnostics
            .Distinct()
            .OrderBy(d => d.Location.Line).ThenBy(d => d.Location.Column)
            .ToList();
        return new WorkflowLoadResult(ordered.Any(d => d.Severity == DiagnosticSeverity.Error) ? null : definition, ordered);
    }

    private static Diagnostic TooLarge(string path, long bytes) =>
        new(SourceLocation.StartOf(path), "AF0131", $"the workflow file is {bytes} bytes, more than the {WorkflowLimits.MaxFileBytes} allowed",
            "a workflow describes steps; keep large text out of it and pass it as an input");

    /// <summary>
    /// The structure of workflow <paramref name="text"/> without validating references (what another file's workflow tool
    /// needs to follow its tools); null when it is not readable. Never throws on bad input.
    /// </summary>
    internal static WorkflowDefinition? ReadStructure(string text, string path)
    {
        var diagnostics = new List<Diagnostic>();
        try
        {
            return YamlTree.Parse(text, path, diagnostics) is { } root ? new Reader(path, text, diagnostics).Read(root) : null;
        }
        catch (Exception ex) when (ex is not (OutOfMemoryException or StackOverflowException or OperationCanceledException))
        {
            return null;
        }
    }

    /// <summary>Lowercase hex SHA-256 of the UTF-8 bytes of <paramref name="text"/>.</summary>
    internal static string Sha256Of(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    internal static partial Regex WorkflowNamePattern();

    [GeneratedRegex("^[a-z_][a-z0-9_]*$")]
    internal static partial Regex StepIdPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    internal static partial Regex IdentifierPattern();
}
