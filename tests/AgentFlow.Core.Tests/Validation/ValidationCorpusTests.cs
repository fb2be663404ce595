using System.Text.RegularExpressions;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Core.Tests.Validation;

/// <summary>
/// Each file in Corpus/ is a broken workflow whose leading <c># expect: LINE:COL CODE message</c> comments list,
/// in file order, exactly the diagnostics it must produce — all at once, each at its location, with its exact message.
/// </summary>
public sealed partial class ValidationCorpusTests
{
    private static readonly string CorpusDirectory = Path.Combine(AppContext.BaseDirectory, "Validation", "Corpus");

    // Warnings by code; every other code is an error.
    private static readonly HashSet<string> WarningCodes = ["AF0124", "AF0203", "AF0410"];

    public static TheoryData<string> Files() => [.. Directory.GetFiles(CorpusDirectory, "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Fact]
    public void Corpus_HasACaseForEveryCheck()
    {
        var files = Directory.GetFiles(CorpusDirectory, "*.yaml");
        Assert.True(files.Length >= 20, $"only {files.Length} corpus files");

        // Every code the loader and validator can emit has at least one corpus case.
        var covered = files.SelectMany(File.ReadLines).Select(l => ExpectPattern().Match(l)).Where(m => m.Success).Select(m => m.Groups[3].Value).ToHashSet();
        string[] codes =
        [
            "AF0101", "AF0102", "AF0103", "AF0104", "AF0105", "AF0106", "AF0107", "AF0108", "AF0109", "AF0110", "AF0111", "AF0112",
            "AF0113", "AF0114", "AF0115", "AF0116", "AF0117", "AF0118", "AF0119", "AF0120", "AF0121", "AF0122", "AF0124", "AF0130",
            "AF0201", "AF0202", "AF0203", "AF0204", "AF0205", "AF0206", "AF0207", "AF0208", "AF0209", "AF0210",
            "AF0301", "AF0302", "AF0303", "AF0304",
            "AF0400", "AF0401", "AF0402", "AF0403", "AF0404", "AF0405", "AF0406", "AF0407", "AF0408", "AF0409", "AF0410", "AF0411", "AF0412", "AF0413", "AF0414",
            "AF0600", "AF0601", "AF0602", "AF0603", "AF0604", "AF0605",
        ];
        Assert.All(codes, c => Assert.Contains(c, covered));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Load_BrokenFile_ReportsExactlyTheExpectedDiagnosticsInFileOrder(string file)
    {
        var path = Path.Combine(CorpusDirectory, file);
        var expected = File.ReadLines(path).Select(l => ExpectPattern().Match(l)).Where(m => m.Success)
            .Select(m => $"{m.Groups[1].Value}:{m.Groups[2].Value} {m.Groups[3].Value} {m.Groups[4].Value.Trim()}")
            .ToList();
        Assert.NotEmpty(expected);

        var result = WorkflowLoader.Load(path);

        var actual = result.Diagnostics.Select(d => $"{d.Location.Line}:{d.Location.Column} {d.Code} {d.Message}").ToList();
        Assert.Equal(expected, actual);
        Assert.All(result.Diagnostics, d =>
        {
            Assert.Equal(path, d.Location.File);
            Assert.False(string.IsNullOrWhiteSpace(d.Hint), $"{d} has no hint");
            Assert.Equal(WarningCodes.Contains(d.Code) ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error, d.Severity);
            Assert.StartsWith($"{path}:{d.Location.Line}:{d.Location.Column}: ", d.ToString(), StringComparison.Ordinal);
        });
        if (result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            Assert.False(result.Succeeded);
            Assert.Null(result.Definition);
            var thrown = Assert.Throws<DefinitionException>(result.GetDefinitionOrThrow);
            Assert.Equal(result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error), thrown.Diagnostics);
        }
        else
        {
            Assert.True(result.Succeeded);
        }
    }

    [GeneratedRegex(@"^# expect: (\d+):(\d+) (AF\d{4}) (.+)$")]
    private static partial Regex ExpectPattern();
}
