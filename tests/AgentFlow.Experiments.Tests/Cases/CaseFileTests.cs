using AgentFlow.Experiments.Cases;

namespace AgentFlow.Experiments.Tests.Cases;

public sealed class CaseFileTests
{
    [Fact]
    public void Parse_FlatAndNestedLines_ReadsInputsIdsAndExpected()
    {
        var cases = CaseFile.Parse("""
            {"id": "a", "name": "Ada", "count": 3, "expected": "hi"}

            # a comment
            {"inputs": {"name": "Bob", "flag": true}}
            """, "cases.jsonl");

        Assert.Equal(2, cases.Count);
        Assert.Equal(("a", 1, "hi"), (cases[0].Id, cases[0].Line, cases[0].Expected));
        Assert.Equal(new Dictionary<string, string> { ["name"] = "Ada", ["count"] = "3" }, cases[0].Inputs);
        Assert.Equal(("4", 4, (string?)null), (cases[1].Id, cases[1].Line, cases[1].Expected));
        Assert.Equal(new Dictionary<string, string> { ["name"] = "Bob", ["flag"] = "true" }, cases[1].Inputs);
    }

    [Fact]
    public void Parse_BadLines_ReportsEveryProblemWithFileAndLine()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => CaseFile.Parse("""
            {"id": "a"}
            [1, 2]
            {"id": "a"}
            {"inputs": "x"}
            {not json
            {"name": null}
            """, "data/cases.jsonl"));

        var lines = ex.Message.Split(Environment.NewLine);
        Assert.Equal(
        [
            "data/cases.jsonl:2: a case must be a JSON object, got an array",
            "data/cases.jsonl:3: case id 'a' is used again (first on line 1)",
            "data/cases.jsonl:4: field 'inputs' must be an object of input name → value, got '\"x\"'",
        ], lines[..3]);
        Assert.StartsWith("data/cases.jsonl:5: not valid JSON (", lines[3], StringComparison.Ordinal);
        Assert.Equal("data/cases.jsonl:6: input 'name' is null; leave it out to use the workflow's default", lines[4]);
    }

    [Fact]
    public void Parse_NoCases_SaysSo()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => CaseFile.Parse("\n# nothing\n", "empty.jsonl"));
        Assert.Equal("empty.jsonl: no cases (one JSON object per line)", ex.Message);
    }

    [Fact]
    public void Load_MissingFile_NamesIt()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => CaseFile.Load("/nonexistent/cases.jsonl"));
        Assert.Equal("/nonexistent/cases.jsonl: cases file not found", ex.Message);
    }

    [Fact]
    public void ParseAll_Variants_ReadsNamesAndBindings()
    {
        var variants = Variant.ParseAll(["A:writer=tiny", "B: writer=tiny2, editor=tiny", "C:"]);
        Assert.Equal(["A", "B", "C"], variants.Select(v => v.Name));
        Assert.Equal("writer=tiny2,editor=tiny", variants[1].BindingsText);
        Assert.Empty(variants[2].Bindings);
    }

    [Fact]
    public void ParseAll_BadVariants_ListsEachProblem()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => Variant.ParseAll(["writer=tiny", "A:writer", "A:x=y", "A:x=z", "B c:x=y"]));
        Assert.Equal(
        [
            "--variant 'writer=tiny' must be NAME:ALIAS=MODEL[,ALIAS=MODEL...], e.g. A:writer=tiny",
            "--variant 'A:writer': 'writer' must be ALIAS=MODEL",
            "--variant 'A:x=z': variant 'A' is given twice",
            "--variant 'B c:x=y': the name 'B c' may only use letters, digits, '-', '_' and '.'",
        ], ex.Message.Split(Environment.NewLine));
    }
}
