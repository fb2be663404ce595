using System.Text.RegularExpressions;

namespace AgentFlow.Tracking.MLflow.Tests;

public sealed partial class SqliteStoreTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task GetOrCreateExperiment_CalledTwice_ReturnsSameExperiment()
    {
        await using var store = Stores.Sqlite(_folder);
        var first = await store.GetOrCreateExperimentAsync("triage");
        var second = await store.GetOrCreateExperimentAsync("triage");

        Assert.Equal("1", first.ExperimentId);
        Assert.Equal(first, second);
        Assert.Equal(store.ArtifactRoot + "/1", first.ArtifactLocation);
        Assert.Equal("active", first.LifecycleStage);
    }

    [Fact]
    public async Task GetOrCreateExperiment_ManyStoresAtOnce_AllGetOneExperiment()
    {
        var stores = Enumerable.Range(0, 8).Select(_ => Stores.Sqlite(_folder)).ToList();
        try
        {
            var experiments = await Task.WhenAll(stores.Select(s => Task.Run(() => s.GetOrCreateExperimentAsync("raced"))));
            Assert.Single(experiments.Select(e => e.ExperimentId).Distinct());
            using var connection = SchemaTests.Connect(stores[0]);
            Assert.Equal("1", SchemaTests.Rows(connection, "SELECT count(*) FROM experiments WHERE name = 'raced';")[0][0]);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task CreateRun_NewRun_WritesMlflowRunRowAndSystemTags()
    {
        await using var store = Stores.Sqlite(_folder);
        var experiment = await store.GetOrCreateExperimentAsync("triage");
        var run = await store.CreateRunAsync(experiment.ExperimentId, "triage #1", 1_700_000_000_123, [new MlflowTag("trigger", "cli")]);

        Assert.Matches(Hex32(), run.Info.RunId);
        Assert.Equal(MlflowRunStatus.Running, run.Info.Status);
        Assert.Equal("triage #1", run.Info.RunName);
        Assert.Equal("triage #1", run.Tag(MlflowTags.RunName));
        Assert.Equal("tester", run.Tag(MlflowTags.User));
        Assert.Equal("cli", run.Tag("trigger"));
        Assert.Equal($"{store.ArtifactRoot}/1/{run.Info.RunId}/artifacts", run.Info.ArtifactUri);

        using var connection = SchemaTests.Connect(store);
        var row = Assert.Single(SchemaTests.Rows(connection,
            "SELECT name, source_type, user_id, status, start_time, end_time, lifecycle_stage, experiment_id, typeof(experiment_id) FROM runs;"));
        Assert.Equal(["triage #1", "LOCAL", "tester", "RUNNING", "1700000000123", "NULL", "active", "1", "integer"], row);
    }

    [Fact]
    public async Task LogBatch_MetricsAtSeveralSteps_KeepsHistoryAndLatest()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        await store.LogBatchAsync(run, [
            new MlflowMetric("loss", 0.9, 1000, 0),
            new MlflowMetric("loss", 0.5, 1001, 2),
            new MlflowMetric("loss", 0.7, 1002, 1),
            new MlflowMetric("step.plan.latency_ms", 412.5, 1000),
            new MlflowMetric("broken", double.NaN, 1000),
        ], [new MlflowParam("model.planner", "builtin/tiny")], [new MlflowTag("status", "ok")]);
        await store.LogBatchAsync(run, [new MlflowMetric("loss", 0.4, 900, 2)], null, null);

        var fetched = await store.GetRunAsync(run);
        Assert.Equal(0.5, fetched.Metric("loss"));
        Assert.Equal(412.5, fetched.Metric("step.plan.latency_ms"));
        Assert.True(double.IsNaN(fetched.Metric("broken")!.Value));
        Assert.Equal("builtin/tiny", fetched.Param("model.planner"));
        Assert.Equal("ok", fetched.Tag("status"));

        using var connection = SchemaTests.Connect(store);
        Assert.Equal("4", SchemaTests.Rows(connection, "SELECT count(*) FROM metrics WHERE key = 'loss';")[0][0]);
        Assert.Equal(["0.5", "1001", "2", "0"],
            SchemaTests.Rows(connection, "SELECT value, timestamp, step, is_nan FROM latest_metrics WHERE key = 'loss';")[0]);
        Assert.Equal(["0", "1"], SchemaTests.Rows(connection, "SELECT value, is_nan FROM metrics WHERE key = 'broken';")[0]);
    }

    [Fact]
    public async Task LogBatch_ParamChangedValue_ThrowsInvalidParameterValue()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        await store.LogBatchAsync(run, null, [new MlflowParam("version", "1")], null);
        await store.LogBatchAsync(run, null, [new MlflowParam("version", "1")], null);

        var error = await Assert.ThrowsAsync<MlflowException>(() => store.LogBatchAsync(run, null, [new MlflowParam("version", "2")], null));
        Assert.Equal(MlflowErrorCodes.InvalidParameterValue, error.ErrorCode);
        Assert.Contains("Changing param values is not allowed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogBatch_FailingEntry_WritesNothingOfTheBatch()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        await store.LogBatchAsync(run, null, [new MlflowParam("version", "1")], null);

        await Assert.ThrowsAsync<MlflowException>(() => store.LogBatchAsync(run,
            [new MlflowMetric("m", 1, 1)], [new MlflowParam("other", "x"), new MlflowParam("version", "2")], null));

        var fetched = await store.GetRunAsync(run);
        Assert.Null(fetched.Param("other"));
        Assert.Null(fetched.Metric("m"));
    }

    [Theory]
    [InlineData("bad key!")]
    [InlineData("../escape")]
    [InlineData("/absolute")]
    [InlineData("a//b")]
    [InlineData("")]
    public async Task LogBatch_InvalidKey_ThrowsValidationException(string key)
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        var error = await Assert.ThrowsAsync<MlflowValidationException>(() => store.LogBatchAsync(run, [new MlflowMetric(key, 1, 1)], null, null));
        Assert.Equal(MlflowErrorCodes.InvalidParameterValue, error.ErrorCode);
    }

    [Fact]
    public async Task LogBatch_LimitsExceeded_ThrowClearValidationErrors()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);

        var longKey = await Assert.ThrowsAsync<MlflowValidationException>(() =>
            store.LogBatchAsync(run, null, [new MlflowParam(new string('k', 251), "v")], null));
        Assert.Contains("at most 250", longKey.Message, StringComparison.Ordinal);

        var longParam = await Assert.ThrowsAsync<MlflowValidationException>(() =>
            store.LogBatchAsync(run, null, [new MlflowParam("p", new string('v', 6001))], null));
        Assert.Contains("at most 6000", longParam.Message, StringComparison.Ordinal);

        var longTag = await Assert.ThrowsAsync<MlflowValidationException>(() =>
            store.LogBatchAsync(run, null, null, [new MlflowTag("t", new string('v', 8001))]));
        Assert.Contains("at most 8000", longTag.Message, StringComparison.Ordinal);

        var duplicate = await Assert.ThrowsAsync<MlflowValidationException>(() =>
            store.LogBatchAsync(run, null, [new MlflowParam("p", "1"), new MlflowParam("p", "1")], null));
        Assert.Contains("Duplicate parameter keys", duplicate.Message, StringComparison.Ordinal);

        // At the limits is fine; colons are allowed in keys.
        await store.LogBatchAsync(run, null, [new MlflowParam(new string('k', 250), new string('v', 6000))],
            [new MlflowTag("ns:tag", new string('v', 8000))]);
    }

    [Fact]
    public async Task UpdateRun_Finished_SetsStatusAndEndTime()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        var info = await store.UpdateRunAsync(run, MlflowRunStatus.Finished, 2_000);
        Assert.Equal(MlflowRunStatus.Finished, info.Status);
        Assert.Equal(2_000, info.EndTime);

        using var connection = SchemaTests.Connect(store);
        Assert.Equal(["FINISHED", "2000"], SchemaTests.Rows(connection, "SELECT status, end_time FROM runs;")[0]);
    }

    [Fact]
    public async Task SetTag_RunName_RenamesRun()
    {
        await using var store = Stores.Sqlite(_folder);
        var run = await NewRunAsync(store);
        await store.SetTagAsync(run, "variant", "a");
        await store.SetTagAsync(run, "variant", "b");
        await store.SetTagAsync(run, MlflowTags.RunName, "renamed");

        var fetched = await store.GetRunAsync(run);
        Assert.Equal("b", fetched.Tag("variant"));
        Assert.Equal("renamed", fetched.Info.RunName);
    }

    [Fact]
    public async Task GetRun_Unknown_ThrowsResourceDoesNotExist()
    {
        await using var store = Stores.Sqlite(_folder);
        var error = await Assert.ThrowsAsync<MlflowException>(() => store.GetRunAsync(new string('a', 32)));
        Assert.Equal(MlflowErrorCodes.ResourceDoesNotExist, error.ErrorCode);
    }

    [Fact]
    public async Task LogArtifact_Transcript_StoredAsPlainFileAndReadBack()
    {
        await using var store = Stores.Sqlite(_folder);
        var experiment = await store.GetOrCreateExperimentAsync("triage");
        var run = (await store.CreateRunAsync(experiment.ExperimentId, "r", 1)).Info.RunId;
        await store.LogTextArtifactAsync(run, "transcript.json", "{\"steps\":[]}");
        await store.LogTextArtifactAsync(run, "steps/plan/prompt.txt", "Plan the work.");
        await store.LogTextArtifactAsync(run, "transcript.json", "{\"steps\":[1]}");

        var onDisk = Path.Combine(store.ArtifactRoot, experiment.ExperimentId, run, "artifacts", "transcript.json");
        Assert.Equal("{\"steps\":[1]}", await File.ReadAllTextAsync(onDisk));
        Assert.Equal("{\"steps\":[1]}", await store.ReadTextArtifactAsync(run, "transcript.json"));
        Assert.Equal("Plan the work.", await store.ReadTextArtifactAsync(run, "steps/plan/prompt.txt"));

        var root = await store.ListArtifactsAsync(run);
        Assert.Equal([new MlflowFileInfo("steps", true, null), new MlflowFileInfo("transcript.json", false, 13)], root);
        Assert.Equal([new MlflowFileInfo("steps/plan/prompt.txt", false, 14)], await store.ListArtifactsAsync(run, "steps/plan"));
        Assert.Empty(await store.ListArtifactsAsync(run, "missing"));

        var missing = await Assert.ThrowsAsync<MlflowException>(() => store.ReadArtifactAsync(run, "nope.json"));
        Assert.Equal(MlflowErrorCodes.ResourceDoesNotExist, missing.ErrorCode);
        await Assert.ThrowsAsync<MlflowValidationException>(() => store.ReadArtifactAsync(run, "../../mlflow.db"));
    }

    [Fact]
    public async Task SearchRuns_FilterOrderAndPaging_MatchesMlflowSemantics()
    {
        await using var store = Stores.Sqlite(_folder);
        var experiment = (await store.GetOrCreateExperimentAsync("ab")).ExperimentId;
        var other = (await store.GetOrCreateExperimentAsync("other")).ExperimentId;
        var ids = new Dictionary<string, string>();
        async Task Run(string name, long start, double? latency, string planner, string variant, MlflowRunStatus status, string exp)
        {
            var run = (await store.CreateRunAsync(exp, name, start, [new MlflowTag("variant", variant)])).Info.RunId;
            ids[name] = run;
            await store.LogBatchAsync(run, latency is { } l ? [new MlflowMetric("latency_ms", l, start)] : [],
                [new MlflowParam("model.planner", planner)], null);
            await store.UpdateRunAsync(run, status, start + 10);
        }

        await Run("a", 100, 250, "llama", "A", MlflowRunStatus.Finished, experiment);
        await Run("b", 200, 120, "llama", "B", MlflowRunStatus.Finished, experiment);
        await Run("c", 300, 900, "openai", "Beta", MlflowRunStatus.Failed, experiment);
        await Run("d", 400, null, "llama", "b", MlflowRunStatus.Finished, experiment);
        await Run("e", 500, 50, "llama", "A", MlflowRunStatus.Finished, other);

        async Task<List<string>> Names(string? filter, params string[] orderBy) =>
            [.. (await store.SearchRunsAsync(new MlflowRunQuery { ExperimentIds = [experiment], Filter = filter, OrderBy = orderBy }))
                .Runs.Select(r => r.Info.RunName!)];

        Assert.Equal(["d", "c", "b", "a"], await Names(null));
        Assert.Equal(["b", "a"], await Names("metrics.latency_ms < 300 and params.\"model.planner\" = 'llama'"));
        Assert.Equal(["b", "a", "c", "d"], await Names(null, "metrics.latency_ms ASC"));
        Assert.Equal(["c", "a", "b", "d"], await Names(null, "metrics.latency_ms DESC"));
        Assert.Equal(["a", "b", "c", "d"], await Names(null, "attributes.start_time ASC"));
        Assert.Equal(["c"], await Names("params.`model.planner` != 'llama'"));
        Assert.Equal(["c", "b"], await Names("tags.variant LIKE 'B%'"));
        Assert.Equal(["d", "c", "b"], await Names("tags.variant ILIKE 'b%'"));
        Assert.Equal(["c"], await Names("attributes.status = 'FAILED'"));
        Assert.Equal(["b"], await Names("attributes.run_name = 'b'"));
        Assert.Equal(["d", "c"], await Names("attributes.start_time >= 300"));
        Assert.Equal(["d", "a"], await Names("tags.variant IN ('A', 'b')"));
        Assert.Equal(["a"], await Names("metrics.latency_ms = 250 AND tags.variant = 'A' and attributes.status != 'FAILED'"));
        Assert.Equal(["e", "d", "c", "b", "a"],
            [.. (await store.SearchRunsAsync(new MlflowRunQuery { ExperimentIds = [experiment, other] })).Runs.Select(r => r.Info.RunName!)]);

        // Paging: 2 per page, opaque token, then no token on the last page.
        var query = new MlflowRunQuery { ExperimentIds = [experiment], OrderBy = ["attributes.start_time ASC"], MaxResults = 2 };
        var page1 = await store.SearchRunsAsync(query);
        Assert.Equal(["a", "b"], page1.Runs.Select(r => r.Info.RunName));
        Assert.NotNull(page1.NextPageToken);
        var page2 = await store.SearchRunsAsync(query with { PageToken = page1.NextPageToken });
        Assert.Equal(["c", "d"], page2.Runs.Select(r => r.Info.RunName));
        Assert.Null(page2.NextPageToken);
        Assert.Equal(4, await store.SearchAllRunsAsync(query with { MaxResults = 1 }).CountAsync());

        // Runs come back whole.
        var b = Assert.Single((await store.SearchRunsAsync(new MlflowRunQuery { ExperimentIds = [experiment], Filter = "attributes.run_name = 'b'" })).Runs);
        Assert.Equal(ids["b"], b.Info.RunId);
        Assert.Equal(120, b.Metric("latency_ms"));
        Assert.Equal("llama", b.Param("model.planner"));
        Assert.Equal("B", b.Tag("variant"));
    }

    [Theory]
    [InlineData("metrics.latency_ms < 'fast'")]
    [InlineData("params.model > 3")]
    [InlineData("metrics.a < 1 or metrics.b < 2")]
    [InlineData("colour.x = 'y'")]
    [InlineData("attributes.nope = 'x'")]
    [InlineData("tags.t = 'unterminated")]
    public async Task SearchRuns_InvalidFilter_ThrowsValidationException(string filter)
    {
        await using var store = Stores.Sqlite(_folder);
        await Assert.ThrowsAsync<MlflowValidationException>(() =>
            store.SearchRunsAsync(new MlflowRunQuery { ExperimentIds = ["0"], Filter = filter }));
    }

    [Fact]
    public async Task SearchRuns_PageToken_IsMlflowOffsetToken()
    {
        await using var store = Stores.Sqlite(_folder);
        for (var i = 0; i < 3; i++)
        {
            await store.CreateRunAsync("0", "r" + i, i);
        }

        var page = await store.SearchRunsAsync(new MlflowRunQuery { ExperimentIds = ["0"], MaxResults = 2 });
        Assert.Equal("{\"offset\": 2}", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(page.NextPageToken!)));
    }

    [Fact]
    public async Task LogBatch_ConcurrentWritersOnOneRun_AllRowsLanded()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => Stores.Sqlite(_folder)).ToList();
        try
        {
            var run = await NewRunAsync(stores[0]);
            await Task.WhenAll(stores.Select((s, w) => Task.Run(async () =>
            {
                for (var i = 0; i < 25; i++)
                {
                    await s.LogBatchAsync(run, [new MlflowMetric($"w{w}", i, 1000 + i, i)], null, [new MlflowTag($"w{w}.last", i.ToString())]);
                }
            })));

            var fetched = await stores[0].GetRunAsync(run);
            for (var w = 0; w < stores.Count; w++)
            {
                Assert.Equal(24, fetched.Metric($"w{w}"));
                Assert.Equal("24", fetched.Tag($"w{w}.last"));
            }

            using var connection = SchemaTests.Connect(stores[0]);
            Assert.Equal("100", SchemaTests.Rows(connection, "SELECT count(*) FROM metrics;")[0][0]);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    private static async Task<string> NewRunAsync(MlflowSqliteStore store)
    {
        var experiment = await store.GetOrCreateExperimentAsync("tests");
        return (await store.CreateRunAsync(experiment.ExperimentId, "run", 1_000)).Info.RunId;
    }

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex Hex32();
}
