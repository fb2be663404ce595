namespace AgentFlow.Tracking.MLflow.Tests;

/// <summary>Against a real MLflow tracking server (started with artifact proxying, the default): set MLFLOW_TEST_URI.</summary>
public sealed class MlflowServerTests
{
    [MlflowServerFact]
    public async Task RealServer_RunRoundTrip_MetricsParamsTagsArtifactsAndSearch()
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? string.Empty);
        await using var store = MlflowStoreFactory.Create(
            Environment.GetEnvironmentVariable(MlflowServerFactAttribute.Variable),
            new MlflowStoreOptions { Environment = environment });

        var name = "agentflow-test-" + Guid.NewGuid().ToString("N")[..8];
        var experiment = await store.GetOrCreateExperimentAsync(name);
        Assert.Equal(experiment.ExperimentId, (await store.GetOrCreateExperimentAsync(name)).ExperimentId);

        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var run = await store.CreateRunAsync(experiment.ExperimentId, "round trip", start, [new MlflowTag("variant", "A")]);
        var metrics = Enumerable.Range(0, 1200).Select(i => new MlflowMetric("series", i, start + i, i)).ToList();
        metrics.Add(new MlflowMetric("latency_ms", 321.5, start));
        var parameters = Enumerable.Range(0, 120).Select(i => new MlflowParam("p." + i, "v" + i)).ToList();
        await store.LogBatchAsync(run.Info.RunId, metrics, parameters, [new MlflowTag("status", "ok")]);
        await store.LogTextArtifactAsync(run.Info.RunId, "transcript.json", "{\"steps\":[]}");
        await store.UpdateRunAsync(run.Info.RunId, MlflowRunStatus.Finished, start + 5000);

        var fetched = await store.GetRunAsync(run.Info.RunId);
        Assert.Equal(MlflowRunStatus.Finished, fetched.Info.Status);
        Assert.Equal(1199, fetched.Metric("series"));
        Assert.Equal(321.5, fetched.Metric("latency_ms"));
        Assert.Equal(120, fetched.Params.Count);
        Assert.Equal("round trip", fetched.Tag(MlflowTags.RunName));
        Assert.Equal("{\"steps\":[]}", await store.ReadTextArtifactAsync(run.Info.RunId, "transcript.json"));
        Assert.Contains(await store.ListArtifactsAsync(run.Info.RunId), f => f.Path == "transcript.json");

        var page = await store.SearchRunsAsync(new MlflowRunQuery
        {
            ExperimentIds = [experiment.ExperimentId],
            Filter = "metrics.latency_ms < 400 and params.\"p.1\" = 'v1' and tags.variant = 'A'",
            OrderBy = ["metrics.latency_ms ASC"],
        });
        Assert.Equal(run.Info.RunId, Assert.Single(page.Runs).Info.RunId);
    }
}
