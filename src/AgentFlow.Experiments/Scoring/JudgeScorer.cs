using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace AgentFlow.Experiments.Scoring;

/// <summary>
/// An LLM judge: renders <see cref="Prompt"/> (<c>{{ output }}</c>, <c>{{ expected }}</c> and <c>{{ inputs.NAME }}</c>
/// are replaced), asks the judge model (temperature 0), and scores 1 when the verdict's first PASS/FAIL word is PASS
/// (also YES/CORRECT), 0 when it is FAIL (also NO/INCORRECT) or when there is none. The prompt, model and verdict are
/// kept with each run (<c>judge.json</c>).
/// </summary>
public sealed partial class JudgeScorer(string model, IChatClient client, string? prompt = null, int maxTokens = 16) : IScorer
{
    /// <summary>The prompt used when none is given.</summary>
    public const string DefaultPrompt =
        "You grade answers. Reply with PASS or FAIL only.\nExpected: {{ expected }}\nAnswer: {{ output }}\nVerdict:";

    /// <inheritdoc />
    public string Name => "judge";

    /// <summary>The registry model that judges.</summary>
    public string Model { get; } = model;

    /// <summary>The prompt template.</summary>
    public string Prompt { get; } = prompt ?? DefaultPrompt;

    /// <inheritdoc />
    public bool NeedsExpected => Prompt.Contains("{{ expected }}", StringComparison.Ordinal);

    /// <inheritdoc />
    public async Task<Score> ScoreAsync(ScoringContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Output is not { } output)
        {
            return new Score(Name, 0, "the run failed");
        }

        var rendered = Prompt.Replace("{{ output }}", output, StringComparison.Ordinal).Replace("{{ expected }}", context.Case.Expected ?? string.Empty, StringComparison.Ordinal);
        rendered = InputReference().Replace(rendered, m => context.Case.Inputs.GetValueOrDefault(m.Groups[1].Value) ?? string.Empty);
        var response = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, rendered)],
            new ChatOptions { Temperature = 0, MaxOutputTokens = maxTokens },
            cancellationToken).ConfigureAwait(false);
        var verdict = response.Text;
        var word = VerdictWord().Match(verdict);
        var pass = word.Success && word.Value.ToUpperInvariant() is "PASS" or "YES" or "CORRECT";
        var detail = word.Success ? word.Value.ToUpperInvariant() : "no verdict (counted as FAIL)";
        return new Score(Name, pass ? 1 : 0, detail, new JsonObject
        {
            ["model"] = Model,
            ["prompt"] = rendered,
            ["verdict"] = verdict,
            ["score"] = pass ? 1 : 0,
            ["input_tokens"] = response.Usage?.InputTokenCount,
            ["output_tokens"] = response.Usage?.OutputTokenCount,
        });
    }

    [GeneratedRegex(@"\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}")]
    private static partial Regex InputReference();

    [GeneratedRegex(@"\b(pass|fail|yes|no|correct|incorrect)\b", RegexOptions.IgnoreCase)]
    private static partial Regex VerdictWord();
}
