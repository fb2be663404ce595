using System.Text.RegularExpressions;
using AgentFlow.Definitions;

namespace AgentFlow.Core.Tests.Validation;

/// <summary>
/// Each file in Corpus/ is a broken workflow whose leading <c># expect: LINE:COL CODE message</c> comments list
/// exactly the diagnostics it must produce, all at once, each at its location, with its message.
/// </summary>
public sealed partial class ValidationCorpusTests
{
    private static readonly string CorpusDirectory = Path.Combine(AppContext.BaseDirectory, "Validation", "Corpus");

    public static TheoryData<string> Files() => [.. Directory.GetFiles(CorpusDirectory, "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Fact]
    public void Corpus_HasACaseForEveryCheck()
    {
        Assert.True(Directory.GetFiles(CorpusDirectory, "*.yaml").Length >= 20);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Load_BrokenFile_ReportsExactlyTheExpectedDiagnostics(string file)
    {
        var path = Path.Combine(CorpusDirectory, file);
        var expected = File.ReadLines(path)
            .Select(l => ExpectPattern().Match(l))
            .Where(m => m.Success)
            .Select(m => (Line: int.Parse(m.Groups[1].Value), Column: int.Parse(m.Groups[2].Value), Code: m.Groups[3].Value, Message: m.Groups[4].Value.Trim()))
            .ToList();
        Assert.NotEmpty(expected);

        var result = WorkflowLoader.Load(path);

        var actual = result.Diagnostics.Select(d => $"{d.Location.Line}:{d.Location.Column} {d.Code} {d.Message}").ToList();
        Assert.True(expected.Count == result.Diagnostics.Count, $"expected {expected.Count} diagnostics, got:\n{string.Join('\n', actual)}");
        foreach (var e in expected)
        {
            Assert.True(
                result.Diagnostics.Any(d => d.Location.Line == e.Line && d.Location.Column == e.Column && d.Code == e.Code && d.Message.StartsWith(e.Message, StringComparison.Ordinal)),
                $"missing {e.Line}:{e.Column} {e.Code} {e.Message}\nactual:\n{string.Join('\n', actual)}");
        }

        Assert.All(result.Diagnostics, d => Assert.Equal(path, d.Location.File));
        if (result.Diagnostics.Any(d => d.Severity == Diagnostics.DiagnosticSeverity.Error))
        {
            Assert.Null(result.Definition);
            Assert.Throws<DefinitionException>(result.GetDefinitionOrThrow);
        }
    }

    [GeneratedRegex(@"^# expect: (\d+):(\d+) (AF\d{4}) (.+)$")]
    private static partial Regex ExpectPattern();
}
