using System.Reflection;
using System.Text;

namespace AgentFlow.Cli.Scaffold;

/// <summary>
/// Writes a starter project from the templates embedded in the executable (so an installed tool needs no clone):
/// a workflow with its <c>yaml-language-server</c> schema line, the JSON Schemas beside it, an <c>agentflow.yaml</c>,
/// a <c>cases.jsonl</c> and a short README. Existing files are never overwritten: every file is checked first and
/// nothing is written when any of them exists.
/// </summary>
internal static class Scaffolder
{
    private const string TemplatePrefix = "Scaffold/";
    private const string SchemaPrefix = "Schemas/";

    /// <summary>The files a project gets, in the order they are written.</summary>
    public static IReadOnlyList<string> FileNames { get; } =
        ["workflow.yaml", "agentflow.yaml", "cases.jsonl", "README.md", "agentflow-workflow.schema.json", "agentflow-config.schema.json"];

    /// <summary>Writes <paramref name="template"/> into <paramref name="directory"/> (created when missing) and returns the paths written.</summary>
    /// <exception cref="AgentFlowException">A file exists already, or the folder cannot be written; nothing was changed.</exception>
    public static IReadOnlyList<string> Write(string directory, ProjectTemplate template)
    {
        var full = Path.GetFullPath(directory);
        if (File.Exists(full))
        {
            throw new AgentFlowException($"init: '{directory}' is a file, not a folder; name a new or empty folder");
        }

        var files = Render(template, Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar)));
        var existing = files.Keys.Where(name => Path.Exists(Path.Combine(full, name))).ToList();
        if (existing.Count > 0)
        {
            throw new AgentFlowException(
                $"init: {string.Join(", ", existing.Select(n => Path.Combine(directory, n)))} already exist{(existing.Count == 1 ? "s" : "")}; " +
                "nothing was written (init never overwrites: pick another folder or move the files away)");
        }

        Directory.CreateDirectory(full);
        var written = new List<string>(files.Count);
        try
        {
            foreach (var (name, content) in files)
            {
                var path = Path.Combine(full, name);
                // CreateNew: a file that appeared since the check above is still never overwritten.
                using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                {
                    stream.Write(content);
                }

                written.Add(path);
            }
        }
        catch (IOException ex)
        {
            // Leave nothing half-written: remove what this call created, keep everything that was there before.
            foreach (var path in written)
            {
                File.Delete(path);
            }

            throw new AgentFlowException($"init: cannot write into '{directory}': {ex.Message}; nothing was written", ex);
        }

        return written;
    }

    private static Dictionary<string, byte[]> Render(ProjectTemplate template, string projectName)
    {
        var readme = Text($"{TemplatePrefix}README.md")
            .Replace("{{name}}", projectName.Length > 0 ? projectName : template.Name, StringComparison.Ordinal)
            .Replace("{{template}}", template.Name, StringComparison.Ordinal)
            .Replace("{{run_inputs}}", template.RunInputs, StringComparison.Ordinal)
            .Replace("{{try_line}}", template.TryLine, StringComparison.Ordinal)
            .Replace("{{alias}}", template.Alias, StringComparison.Ordinal);
        return new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["workflow.yaml"] = Bytes($"{TemplatePrefix}{template.Name}/workflow.yaml"),
            ["agentflow.yaml"] = Bytes($"{TemplatePrefix}agentflow.yaml"),
            ["cases.jsonl"] = Bytes($"{TemplatePrefix}{template.Name}/cases.jsonl"),
            ["README.md"] = Encoding.UTF8.GetBytes(readme),
            ["agentflow-workflow.schema.json"] = Bytes($"{SchemaPrefix}agentflow-workflow.schema.json"),
            ["agentflow-config.schema.json"] = Bytes($"{SchemaPrefix}agentflow-config.schema.json"),
        };
    }

    private static string Text(string resource) => Encoding.UTF8.GetString(Bytes(resource));

    private static byte[] Bytes(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the embedded resource '{resource}' is missing from this build");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
