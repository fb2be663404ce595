using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AgentFlow.Experiments.Cases;
using Json.Schema;

namespace AgentFlow.Experiments.Scoring;

/// <summary>What a scorer sees: the case, the output being scored (null when the run failed) and the run as recorded.</summary>
/// <param name="Case">The case.</param>
/// <param name="Output">The workflow output scored.</param>
/// <param name="Run">The run's record (its steps, searches and tool calls); null where only an output is scored.</param>
public sealed record ScoringContext(ExperimentCase Case, string? Output, Runs.RecordedRun? Run = null);

/// <summary>A score of one run.</summary>
/// <param name="Name">Scorer name (the metric is <c>score.NAME</c>).</param>
/// <param name="Value">0 to 1.</param>
/// <param name="Detail">Why, for people.</param>
/// <param name="Record">What to keep with the run (e.g. a judge's prompt, model and verdict); null for none.</param>
public sealed record Score(string Name, double Value, string Detail, JsonObject? Record = null);

/// <summary>Scores a run's output.</summary>
public interface IScorer
{
    /// <summary>Name of the score (<c>score.NAME</c>).</summary>
    string Name { get; }

    /// <summary>Whether the scorer needs each case's <c>expected</c> field.</summary>
    bool NeedsExpected { get; }

    /// <summary>Scores one output; a failed run (null output) scores 0.</summary>
    Task<Score> ScoreAsync(ScoringContext context, CancellationToken cancellationToken);
}

/// <summary>How a <see cref="MatchScorer"/> compares.</summary>
public enum MatchKind
{
    /// <summary>The output, trimmed, equals <c>expected</c>.</summary>
    Exact,

    /// <summary>The output contains <c>expected</c> (ordinal, case-insensitive).</summary>
    Contains,

    /// <summary><c>expected</c> is a regular expression the output matches.</summary>
    Regex,
}

/// <summary>Exact, contains or regex match of the output against the case's <c>expected</c> field.</summary>
public sealed class MatchScorer(MatchKind kind) : IScorer
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    public string Name { get; } = kind.ToString().ToLowerInvariant();

    /// <inheritdoc />
    public bool NeedsExpected => true;

    /// <summary>Checks every case's <c>expected</c> is a valid pattern (regex scorer); problems name file and line.</summary>
    public IEnumerable<string> Check(IReadOnlyList<ExperimentCase> cases, string path)
    {
        ArgumentNullException.ThrowIfNull(cases);
        if (kind != MatchKind.Regex)
        {
            yield break;
        }

        foreach (var c in cases.Where(c => c.Expected is not null))
        {
            string? problem = null;
            try
            {
                _ = new Regex(c.Expected!, RegexOptions.None, RegexTimeout);
            }
            catch (ArgumentException ex)
            {
                problem = $"{path}:{c.Line}: field 'expected' is not a valid regular expression for --score regex ({ex.Message})";
            }

            if (problem is not null)
            {
                yield return problem;
            }
        }
    }

    /// <inheritdoc />
    public Task<Score> ScoreAsync(ScoringContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var expected = context.Case.Expected ?? string.Empty;
        if (context.Output is not { } output)
        {
            return Task.FromResult(new Score(Name, 0, "the run failed"));
        }

        var hit = kind switch
        {
            MatchKind.Exact => string.Equals(output.Trim(), expected.Trim(), StringComparison.Ordinal),
            MatchKind.Contains => output.Contains(expected, StringComparison.OrdinalIgnoreCase),
            _ => Regex.IsMatch(output, expected, RegexOptions.None, RegexTimeout),
        };
        return Task.FromResult(new Score(Name, hit ? 1 : 0, hit ? "match" : "no match"));
    }
}

/// <summary>Scores 1 when the output is JSON valid against a JSON Schema (a <c>```json</c> fence around it is allowed).</summary>
public sealed class JsonSchemaScorer : IScorer
{
    private readonly JsonSchema _schema;

    private JsonSchemaScorer(JsonSchema schema) => _schema = schema;

    /// <inheritdoc />
    public string Name => "json_schema";

    /// <inheritdoc />
    public bool NeedsExpected => false;

    /// <summary>Loads the schema file.</summary>
    /// <exception cref="ExperimentInputException">The file is missing or not a JSON Schema.</exception>
    public static JsonSchemaScorer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new ExperimentInputException($"--score json-schema={path}: schema file not found");
        }

        try
        {
            return new JsonSchemaScorer(JsonSchema.FromText(File.ReadAllText(path)));
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new ExperimentInputException($"{path}: not a usable JSON Schema ({ex.Message})");
        }
    }

    /// <inheritdoc />
    public Task<Score> ScoreAsync(ScoringContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Output is not { } output)
        {
            return Task.FromResult(new Score(Name, 0, "the run failed"));
        }

        var text = output.Trim();
        if (text.StartsWith("```", StringComparison.Ordinal))
        {
            var firstLine = text.IndexOf('\n', StringComparison.Ordinal);
            text = firstLine < 0 ? string.Empty : text[(firstLine + 1)..];
            text = text.EndsWith("```", StringComparison.Ordinal) ? text[..^3] : text;
        }

        JsonElement document;
        try
        {
            using var parsed = JsonDocument.Parse(text);
            document = parsed.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            return Task.FromResult(new Score(Name, 0, $"not JSON ({ex.Message.Split(" Path:")[0]})"));
        }

        var result = _schema.Evaluate(document, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return Task.FromResult(new Score(Name, 1, "valid"));
        }

        var error = result.Details?.Where(d => d.Errors is { Count: > 0 }).Select(d => $"{d.InstanceLocation}: {d.Errors!.First().Value}").FirstOrDefault();
        return Task.FromResult(new Score(Name, 0, error ?? "does not match the schema"));
    }
}
