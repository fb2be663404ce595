using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Cli.Tests;

/// <summary>A/B experiments, replay, diff and compare through the real ./agentflow on the built-in models.</summary>
public sealed class ExperimentCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private static readonly string Hello = Path.Combine(CliProcess.RepoRoot, "workflows", "hello.yaml");

    private string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(fixture.Root, name + "-" + Guid.NewGuid().ToString("N")[..6])).FullName;

    [Fact]
    public async Task ExperimentRun_TwentyCasesOnTwoBuiltinModels_TableWithIntervalsRecordedPerVariantAndReportReproducesIt()
    {
        var folder = NewFolder("experiment");
        var cases = string.Join('\n', Enumerable.Range(1, 20).Select(i => $$"""{"id": "c{{i}}", "name": "Person{{i}}", "expected": "Person{{i}}"}"""));
        await File.WriteAllTextAsync(Path.Combine(folder, "cases.jsonl"), cases);

        var run = await CliProcess.RunAsync(folder, fixture.Environment,
            "experiment", "run", Hello, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny", "--variant", "B:writer=tiny2",
            "--concurrency", "4", "--score", "contains", "--judge", "tiny2", "--name", "hello-ab", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("[A] 20/20 ", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("[B] 20/20 ", run.Stderr, StringComparison.Ordinal);
        var result = JsonNode.Parse(run.Stdout)!.AsObject();
        var trials = result["trials"]!.AsArray();
        Assert.Equal(40, trials.Count);
        Assert.Equal(20, trials.Count(t => t!["variant"]!.GetValue<string>() == "A"));
        Assert.All(trials, t => Assert.Equal("succeeded", t!["status"]!.GetValue<string>()));

        var rows = result["comparison"]!["rows"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal(
            ["success_rate", "latency_p50_ms", "latency_p95_ms", "tokens_in", "tokens_out", "score.contains", "score.judge",
             "greet:latency_p50_ms", "greet:latency_p95_ms", "greet:tokens_in", "greet:tokens_out",
             "shorten:latency_p50_ms", "shorten:latency_p95_ms", "shorten:tokens_in", "shorten:tokens_out"],
            rows.Select(r => r["step"] is null ? r["name"]!.GetValue<string>() : $"{r["step"]}:{r["name"]}"));
        foreach (var row in rows)
        {
            foreach (var estimate in new[] { row["variants"]!["A"], row["variants"]!["B"], row["differences"]!["B"] })
            {
                var (value, low, high) = (estimate!["value"]!.GetValue<double>(), estimate["low"]!.GetValue<double>(), estimate["high"]!.GetValue<double>());
                Assert.True(low <= value + 1e-9 && value <= high + 1e-9, $"{row["name"]}: {value} outside [{low}, {high}]");
                Assert.Equal(20, estimate["n"]!.GetValue<int>());
            }
        }

        Assert.Equal(1.0, rows[0]["variants"]!["A"]!["value"]!.GetValue<double>());

        // Each run is in MLflow experiment hello-ab with its variant and case; the variants really ran other models.
        var a1 = trials.Single(t => t!["variant"]!.GetValue<string>() == "A" && t["case"]!.GetValue<string>() == "c1")!["run_id"]!.GetValue<string>();
        var b1 = trials.Single(t => t!["variant"]!.GetValue<string>() == "B" && t["case"]!.GetValue<string>() == "c1")!["run_id"]!.GetValue<string>();
        var export = JsonNode.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", b1)).Stdout)!;
        Assert.Equal("B", export["tags"]!["agentflow.variant"]!.GetValue<string>());
        Assert.Equal("c1", export["tags"]!["agentflow.case"]!.GetValue<string>());
        Assert.Equal("hello-ab", export["tags"]!["agentflow.experiment"]!.GetValue<string>());
        Assert.Equal("tiny2", export["params"]!["model.writer"]!.GetValue<string>());
        Assert.Equal("\"Person1\"", export["params"]!["input.name"]!.GetValue<string>());
        Assert.True(export["metrics"]!["score.judge"] is not null, "the judge's score is a run metric");
        var judged = JsonNode.Parse(await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(folder, ".agentflow"), "judge.json", SearchOption.AllDirectories).Single(f => f.Contains(b1, StringComparison.Ordinal))))!;
        Assert.Equal("tiny2", judged[0]!["model"]!.GetValue<string>());
        Assert.Contains("Answer: ", judged[0]!["prompt"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(judged[0]!["verdict"]);
        var diff = JsonNode.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "diff", a1, b1, "--json")).Stdout)!;
        Assert.False(diff["steps"]![0]!["same_output"]!.GetValue<bool>(), "tiny and tiny2 answer the same prompt differently");

        var list = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "list", "-w", "hello-ab", "--json", "--limit", "100");
        Assert.Equal(40, JsonDocument.Parse(list.Stdout).RootElement.GetArrayLength());

        var report = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "report", "--name", "hello-ab", "--json");
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Equal(result["comparison"]!.ToJsonString(), JsonNode.Parse(report.Stdout)!["comparison"]!.ToJsonString());

        var text = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "report", "--name", "hello-ab");
        Assert.Matches(@"(?m)^metric\s+A\s+B\s+B−A$", text.Stdout);
        Assert.Matches(@"(?m)^success_rate\s+1 \[1, 1\]\s+1 \[1, 1\]\s+0 \[0, 0\]$", text.Stdout);
    }

    [Fact]
    public async Task ExperimentRun_BadCasesFile_ExitsTwoNamingFileLineAndField()
    {
        var folder = NewFolder("bad-cases");
        await File.WriteAllTextAsync(Path.Combine(folder, "cases.jsonl"), "{\"name\": \"Ada\"}\n{\"inputs\": [1]}\n");

        var run = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "run", Hello, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("cases.jsonl:2: field 'inputs' must be an object of input name → value, got an array", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExperimentRun_VariantWithUnknownAlias_ExitsTwoNamingTheVariant()
    {
        var folder = NewFolder("unknown-alias");
        await File.WriteAllTextAsync(Path.Combine(folder, "cases.jsonl"), "{\"name\": \"Ada\"}\n");

        var run = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "run", Hello, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny", "--variant", "B:writter=tiny2", "--no-record");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--variant B: writter=tiny2: workflow 'hello' has no model alias 'writter'; did you mean 'writer'?", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExperimentRun_CaseWithUnknownInput_ExitsTwoNamingLineAndInput()
    {
        var folder = NewFolder("unknown-input");
        await File.WriteAllTextAsync(Path.Combine(folder, "cases.jsonl"), "{\"name\": \"Ada\"}\n{\"nmae\": \"Bob\"}\n");

        var run = await CliProcess.RunAsync(folder, fixture.Environment, "experiment", "run", Hello, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny", "--no-record");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("cases.jsonl:2: case '2': unknown input 'nmae' for workflow 'hello'; did you mean 'name'?", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunsReplay_SwappedModelFromSecondStep_ReusesFirstStepRunsSecondLiveAndLinksTheRuns()
    {
        var folder = NewFolder("replay");
        var original = await CliProcess.RunAsync(folder, fixture.Environment, "run", Hello, "-i", "name=Ada", "--json");
        Assert.True(original.ExitCode == 0, original.ToString());
        var first = JsonNode.Parse(original.Stdout)!;
        var originalId = first["run_id"]!.GetValue<string>();

        var replay = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "replay", originalId, "--bind", "writer=tiny2", "--from", "shorten", "--json");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Contains("1 recorded step output(s) reused, live from step 'shorten'", replay.Stderr, StringComparison.Ordinal);
        var second = JsonNode.Parse(replay.Stdout)!;
        var replayId = second["run_id"]!.GetValue<string>();
        Assert.Equal(originalId, second["replayed_from"]!.GetValue<string>());
        Assert.Equal(["greet"], second["reused_steps"]!.AsArray().Select(s => s!.GetValue<string>()));
        var (greet, shorten) = (second["steps"]![0]!, second["steps"]![1]!);
        Assert.Equal(first["steps"]![0]!["output"]!.GetValue<string>(), greet["output"]!.GetValue<string>());
        Assert.Equal("tiny", greet["model"]!.GetValue<string>());
        Assert.Null(greet["input_tokens"]);
        Assert.Equal("tiny2", shorten["model"]!.GetValue<string>());
        Assert.True(shorten["output_tokens"]!.GetValue<int>() > 0);

        var export = JsonNode.Parse((await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", replayId)).Stdout)!;
        Assert.Equal(originalId, export["tags"]!["agentflow.replayed_from"]!.GetValue<string>());
        Assert.Equal(originalId, export["transcript"]!["steps"]![0]!["replayed_from"]!.GetValue<string>());
        var verify = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", replayId);
        Assert.True(verify.ExitCode == 0, verify.ToString());

        var diff = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "diff", originalId, replayId);
        Assert.True(diff.ExitCode == 0, diff.ToString());
        Assert.Contains("── greet  same output", diff.Stdout, StringComparison.Ordinal);
        Assert.Contains($"   replayed from {originalId}", diff.Stdout, StringComparison.Ordinal);
        Assert.Contains("   model    tiny -> tiny2", diff.Stdout, StringComparison.Ordinal);

        var compare = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "compare", originalId, replayId, "--json");
        var runs = JsonNode.Parse(compare.Stdout)!["runs"]!.AsArray();
        Assert.Equal(["tiny", "tiny2"], runs.Select(r => r!["bindings"]!["writer"]!.GetValue<string>()));
        Assert.Equal(runs[0]!["steps"]!["greet"]!["output"]!.GetValue<string>(), runs[1]!["steps"]!["greet"]!["output"]!.GetValue<string>());
        var compareText = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "compare", originalId, replayId);
        Assert.Matches(@"(?m)^model writer\s+tiny\s+tiny2$", compareText.Stdout);
    }

    [Fact]
    public async Task RunsReplay_UnknownRun_ExitsTwoSayingHowToFindRuns()
    {
        var folder = NewFolder("replay-unknown");
        var replay = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "replay", "0123456789abcdef0123456789abcdef", "--bind", "writer=tiny2");
        Assert.Equal(2, replay.ExitCode);
        Assert.Contains("run '0123456789abcdef0123456789abcdef' has no transcript", replay.Stderr, StringComparison.Ordinal);
    }
}
