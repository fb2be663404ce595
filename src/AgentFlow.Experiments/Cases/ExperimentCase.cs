using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Experiments.Cases;

/// <summary>One case of an experiment's dataset: the workflow inputs and, optionally, what the output should be.</summary>
/// <param name="Id">The case's <c>id</c> field, else its line number.</param>
/// <param name="Line">1-based line in the cases file.</param>
/// <param name="Inputs">Input name → value as text (what <c>--input NAME=VALUE</c> would pass).</param>
/// <param name="Expected">The <c>expected</c> field, as text, when present.</param>
public sealed record ExperimentCase(string Id, int Line, IReadOnlyDictionary<string, string> Inputs, string? Expected)
{
    /// <summary>The <c>expected_sources</c> field: the documents a search should find (sources as indexed, e.g. <c>refunds.md</c>); null when absent.</summary>
    public IReadOnlyList<string>? ExpectedSources { get; init; }
}

/// <summary>Thrown for a cases file, variant or scorer that cannot be used; the message names the file, line and field.</summary>
public sealed class ExperimentInputException(string message) : AgentFlowException(message);

/// <summary>
/// Reads a JSON Lines dataset: one JSON object per line; blank lines and lines starting with <c>#</c> or <c>//</c> are
/// skipped. A line's inputs are its <c>inputs</c> object when it has one, else every field but <c>id</c>,
/// <c>expected</c> and <c>expected_sources</c> (a list of source paths, or one path, for the retrieval scorer).
/// Strings are passed as they are, numbers and booleans as their JSON text.
/// </summary>
public static class CaseFile
{
    /// <summary>The field listing the sources a case's search should find.</summary>
    public const string ExpectedSourcesField = "expected_sources";

    /// <summary>Reads <paramref name="path"/>; every problem is reported at once as <c>file:line: message</c>.</summary>
    /// <exception cref="ExperimentInputException">The file is missing, empty or has bad lines.</exception>
    public static IReadOnlyList<ExperimentCase> Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new ExperimentInputException($"{path}: cases file not found");
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses JSON Lines text; <paramref name="path"/> is only used in messages.</summary>
    /// <exception cref="ExperimentInputException">The text has no cases or has bad lines.</exception>
    public static IReadOnlyList<ExperimentCase> Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cases = new List<ExperimentCase>();
        var problems = new List<string>();
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNumber = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            JsonNode? node;
            try
            {
                node = JsonNode.Parse(line);
            }
            catch (JsonException ex)
            {
                problems.Add($"{path}:{lineNumber}: not valid JSON ({ex.Message.Split(" Path:")[0].Split(" LineNumber:")[0]})");
                continue;
            }

            if (node is not JsonObject obj)
            {
                problems.Add($"{path}:{lineNumber}: a case must be a JSON object, got {Describe(node)}");
                continue;
            }

            var id = lineNumber.ToString(CultureInfo.InvariantCulture);
            if (obj["id"] is { } idNode)
            {
                if (idNode is JsonValue idValue && (idValue.TryGetValue<string>(out var s) ? s : idValue.ToJsonString()) is { Length: > 0 } given)
                {
                    id = given;
                }
                else
                {
                    problems.Add($"{path}:{lineNumber}: field 'id' must be a non-empty string or number");
                    continue;
                }
            }

            if (ids.TryGetValue(id, out var first))
            {
                problems.Add($"{path}:{lineNumber}: case id '{id}' is used again (first on line {first})");
                continue;
            }

            ids[id] = lineNumber;
            JsonObject source;
            if (obj["inputs"] is { } inputsNode)
            {
                if (inputsNode is not JsonObject inputsObject)
                {
                    problems.Add($"{path}:{lineNumber}: field 'inputs' must be an object of input name → value, got {Describe(inputsNode)}");
                    continue;
                }

                source = inputsObject;
            }
            else
            {
                source = obj;
            }

            var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, value) in source)
            {
                if (ReferenceEquals(source, obj) && name is "id" or "expected" or ExpectedSourcesField)
                {
                    continue;
                }

                if (value is null)
                {
                    problems.Add($"{path}:{lineNumber}: input '{name}' is null; leave it out to use the workflow's default");
                    continue;
                }

                inputs[name] = AsText(value);
            }

            var expected = obj["expected"] is { } expectedNode ? AsText(expectedNode) : null;
            IReadOnlyList<string>? expectedSources = null;
            if (obj[ExpectedSourcesField] is { } sourcesNode)
            {
                expectedSources = sourcesNode switch
                {
                    JsonValue one when one.TryGetValue<string>(out var single) && single.Trim().Length > 0 => [single.Trim()],
                    JsonArray many when many.Count > 0 && many.All(n => n is JsonValue v && v.TryGetValue<string>(out var p) && p.Trim().Length > 0) =>
                        [.. many.Select(n => n!.GetValue<string>().Trim()).Distinct(StringComparer.Ordinal)],
                    _ => null,
                };
                if (expectedSources is null)
                {
                    problems.Add($"{path}:{lineNumber}: field '{ExpectedSourcesField}' must be a non-empty list of source paths (as indexed, e.g. [\"refunds.md\"]), got {Describe(sourcesNode)}");
                    continue;
                }
            }

            cases.Add(new ExperimentCase(id, lineNumber, inputs, expected) { ExpectedSources = expectedSources });
        }

        if (problems.Count > 0)
        {
            throw new ExperimentInputException(string.Join(Environment.NewLine, problems));
        }

        return cases.Count == 0 ? throw new ExperimentInputException($"{path}: no cases (one JSON object per line)") : cases;
    }

    private static string AsText(JsonNode node) =>
        node is JsonValue value && value.TryGetValue<string>(out var s) ? s : node.ToJsonString();

    private static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "an array",
        JsonObject => "an object",
        _ => $"'{node.ToJsonString()}'",
    };
}
