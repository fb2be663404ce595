using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Scoring;

namespace AgentFlow.Experiments.Tests.Scoring;

public sealed class ScorerTests
{
    private static ScoringContext Context(string? output, string? expected) =>
        new(new ExperimentCase("c1", 1, new Dictionary<string, string>(), expected), output);

    [Theory]
    [InlineData(MatchKind.Exact, " Paris \n", "Paris", 1)]
    [InlineData(MatchKind.Exact, "Paris, France", "Paris", 0)]
    [InlineData(MatchKind.Contains, "It is PARIS.", "paris", 1)]
    [InlineData(MatchKind.Contains, "Lyon", "paris", 0)]
    [InlineData(MatchKind.Regex, "order #12345 shipped", @"#\d{5}\b", 1)]
    [InlineData(MatchKind.Regex, "order #12 shipped", @"#\d{5}\b", 0)]
    public async Task ScoreAsync_Match_ScoresAgainstExpected(MatchKind kind, string output, string expected, double score)
    {
        var result = await new MatchScorer(kind).ScoreAsync(Context(output, expected), CancellationToken.None);
        Assert.Equal(score, result.Value);
        Assert.Equal(kind.ToString().ToLowerInvariant(), result.Name);
    }

    [Fact]
    public async Task ScoreAsync_FailedRun_ScoresZero()
    {
        var result = await new MatchScorer(MatchKind.Contains).ScoreAsync(Context(null, "x"), CancellationToken.None);
        Assert.Equal((0.0, "the run failed"), (result.Value, result.Detail));
    }

    [Fact]
    public void Check_InvalidRegexInExpected_NamesFileAndLine()
    {
        var cases = new[] { new ExperimentCase("c7", 7, new Dictionary<string, string>(), "(unclosed") };
        var problem = Assert.Single(new MatchScorer(MatchKind.Regex).Check(cases, "cases.jsonl"));
        Assert.StartsWith("cases.jsonl:7: field 'expected' is not a valid regular expression for --score regex", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScoreAsync_JsonSchema_ValidFencedAndInvalidOutputs()
    {
        var path = Path.Combine(Path.GetTempPath(), $"schema-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, """{"type":"object","required":["label"],"properties":{"label":{"enum":["bug","billing"]}}}""");
        try
        {
            var scorer = JsonSchemaScorer.Load(path);
            Assert.Equal(1, (await scorer.ScoreAsync(Context("""{"label":"bug"}""", null), CancellationToken.None)).Value);
            Assert.Equal(1, (await scorer.ScoreAsync(Context("```json\n{\"label\":\"billing\"}\n```", null), CancellationToken.None)).Value);
            var wrong = await scorer.ScoreAsync(Context("""{"label":"other"}""", null), CancellationToken.None);
            Assert.Equal(0, wrong.Value);
            var notJson = await scorer.ScoreAsync(Context("label: bug", null), CancellationToken.None);
            Assert.Equal(0, notJson.Value);
            Assert.StartsWith("not JSON", notJson.Detail, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_SchemaFileMissing_NamesIt()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => JsonSchemaScorer.Load("/nonexistent/schema.json"));
        Assert.Equal("--score json-schema=/nonexistent/schema.json: schema file not found", ex.Message);
    }
}
