using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Models;
using AgentFlow.Server.Http;
using AgentFlow.Server.Workflows;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Audit;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentFlow.Server.Runs;

/// <summary>Starting runs, reading them, streaming their events and verifying their audit chain.</summary>
internal static class RunsEndpoints
{
    public static IEndpointRouteBuilder MapRunsEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapPost("/runs", StartAsync);
        api.MapGet("/runs", ListAsync);
        api.MapGet("/runs/{id}", GetAsync);
        api.MapGet("/runs/{id}/events", StreamEventsAsync);
        api.MapGet("/runs/{id}/verify", VerifyAsync);
        api.MapGet("/runs/{id}/spans", SpansAsync);
        return api;
    }

    private static async Task<IResult> StartAsync(HttpContext http, ServerPaths paths, ModelRegistry registry, IRunExecutor executor, RunLauncher launcher)
    {
        var (body, invalid) = await ApiResults.ReadObjectAsync(http, "{\"workflow\": \"hello\", \"inputs\": {\"name\": \"Ada\"}, \"bindings\": {}}").ConfigureAwait(false);
        if (body is null)
        {
            return invalid!;
        }

        var (definition, problem) = WorkflowsEndpoints.Find(paths, body["workflow"] is JsonValue v && v.TryGetValue<string>(out var name) ? name : null);
        if (definition is null)
        {
            return problem!;
        }

        Dictionary<string, string> inputs, bindings;
        try
        {
            inputs = Strings(body["inputs"], "inputs");
            bindings = Strings(body["bindings"], "bindings");
            _ = RunInputs.Resolve(definition, inputs);
            _ = new ModelHost(registry, []).Resolve(definition, bindings);
        }
        catch (AgentFlowException ex)
        {
            return ApiResults.Problem(400, "bad inputs or bindings", ex.Message);
        }

        var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        launcher.Launch(Guid.NewGuid().ToString("N"), async observer =>
        {
            try
            {
                // Answer the client once the run is saved, so its id can be read back at once.
                await executor.ExecuteAsync(definition, inputs, bindings, new RunLauncher.StartedSignal(observer, started), CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                started.TrySetException(new AgentFlowException("the run did not start; see the serve log"));
            }
        });
        try
        {
            var runId = await started.Task.WaitAsync(TimeSpan.FromMinutes(2), http.RequestAborted).ConfigureAwait(false);
            return Results.Json(new JsonObject { ["run_id"] = runId, ["status"] = "running", ["url"] = $"/api/runs/{runId}" }, statusCode: 202);
        }
        catch (AgentFlowException ex)
        {
            return ApiResults.Problem(500, "the run did not start", ex.Message);
        }
    }

    private static async Task<IResult> ListAsync(string? workflow, string? status, int? limit, IRunStore runs, CancellationToken cancellationToken)
    {
        var take = Math.Clamp(limit ?? 50, 1, 500);
        var array = new JsonArray();
        foreach (var run in await runs.ListRecentAsync(take * 4, cancellationToken).ConfigureAwait(false))
        {
            var record = run.Record;
            if ((workflow is null || record.Workflow == workflow) && (status is null || string.Equals(record.Status.ToString(), status, StringComparison.OrdinalIgnoreCase)) && array.Count < take)
            {
                array.Add(new JsonObject
                {
                    ["run_id"] = record.RunId,
                    ["workflow"] = record.Workflow,
                    ["status"] = record.Status.ToString().ToLowerInvariant(),
                    ["started"] = record.Started.ToString("O", CultureInfo.InvariantCulture),
                    ["duration_ms"] = record.DurationMs,
                    ["bindings"] = new JsonObject([.. record.Bindings.Select(b => KeyValuePair.Create(b.Key, (JsonNode?)b.Value))]),
                    ["input_tokens"] = record.InputTokens,
                    ["output_tokens"] = record.OutputTokens,
                    ["cost_usd"] = record.CostUsd,
                    ["waiting_step"] = record.Waiting?.StepId,
                });
            }
        }

        return Results.Json(array);
    }

    private static async Task<IResult> GetAsync(string id, IRunStore runs, CancellationToken cancellationToken)
    {
        var (run, problem) = await LoadAsync(runs, id, cancellationToken).ConfigureAwait(false);
        return run is null ? problem! : Results.Text(RunResultJson.Serialize(run.Record), "application/json");
    }

    /// <summary>The stored run <paramref name="id"/>, or the 400/404 that says why there is none.</summary>
    public static async Task<(DurableRun? Run, IResult? Problem)> LoadAsync(IRunStore runs, string id, CancellationToken cancellationToken)
    {
        try
        {
            return await runs.LoadAsync(id, cancellationToken).ConfigureAwait(false) is { } run
                ? (run, null)
                : (null, ApiResults.Problem(404, "unknown run", $"no run '{id}'"));
        }
        catch (RunStoreException ex)
        {
            return (null, ApiResults.Problem(400, "bad run id", ex.Message));
        }
    }

    // Server-Sent Events: the run as it is now, then every event until it finishes or parks.
    private static async Task<IResult> StreamEventsAsync(string id, HttpContext http, IRunStore runs, RunEventHub hub)
    {
        using var subscription = hub.Subscribe(id);
        var (stored, problem) = await LoadAsync(runs, id, http.RequestAborted).ConfigureAwait(false);
        if (stored is null)
        {
            return problem!;
        }

        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var live = hub.IsLive(id);
        await SendAsync(http, live ? "run" : stored.Record.Status == RunStatus.Waiting ? "waiting" : "run_finished", RunResultJson.ToJson(stored.Record)).ConfigureAwait(false);
        if (!live)
        {
            return Results.Empty;
        }

        try
        {
            await foreach (var runEvent in subscription.Reader.ReadAllAsync(http.RequestAborted).ConfigureAwait(false))
            {
                var (name, data) = runEvent switch
                {
                    StepStartedEvent e => ("step_started", (JsonNode)RunResultJson.Step(e.Step)),
                    StepOutputChunkEvent e => ("chunk", new JsonObject { ["step"] = e.StepId, ["text"] = e.Text }),
                    StepFinishedEvent e => ("step_finished", RunResultJson.Step(e.Step)),
                    ApprovalRequestedEvent e => ("approval_requested", new JsonObject { ["step"] = e.Waiting.StepId, ["message"] = e.Waiting.Message, ["show"] = e.Waiting.Show, ["tool"] = e.Waiting.Tool, ["arguments"] = e.Waiting.Arguments }),
                    RunFinishedEvent e => (e.Record.Status == RunStatus.Waiting ? "waiting" : "run_finished", RunResultJson.ToJson(e.Record)),
                    _ => (string.Empty, null!),
                };
                if (name.Length > 0)
                {
                    await SendAsync(http, name, data).ConfigureAwait(false);
                }

                if (runEvent is RunFinishedEvent)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }

        return Results.Empty;
    }

    private static async Task SendAsync(HttpContext http, string name, JsonNode data)
    {
        await http.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    // The same check as `runs verify`: step chain, the signed seal over the whole record and the run's ledger line.
    private static async Task<IResult> VerifyAsync(string id, IRunExecutor executor, ServerOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var store = executor.OpenTracking();
        try
        {
            var key = AuditKey.Load(Environment.GetEnvironmentVariable);
            var verifier = new RunVerifier(store, key, RunLedger.ForStore(store, options.WorkingDirectory, time));
            var result = await verifier.VerifyRunAsync(id, cancellationToken).ConfigureAwait(false);
            return Results.Json(result.ToJson());
        }
        catch (MlflowException ex)
        {
            return ApiResults.Problem(404, "no record to verify", ex.Message);
        }
    }

    // The run's trace as recorded in the embedded MLflow store; none until the run first parks or ends.
    private static async Task<IResult> SpansAsync(string id, IRunStore runs, IRunExecutor executor, CancellationToken cancellationToken)
    {
        var (run, problem) = await LoadAsync(runs, id, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return problem!;
        }

        await using var store = executor.OpenTracking();
        if (store is not MlflowSqliteStore sqlite)
        {
            return ApiResults.Problem(404, "no trace in this store",
                "spans are read from the embedded store (sqlite:///…); this server records runs on an MLflow server, where AgentFlow writes no trace yet");
        }

        var traceId = Tracking.MLflow.Traces.MlflowTrace.IdOf(run.Record.RunId);
        var spans = await sqlite.ReadSpansAsync(traceId, cancellationToken).ConfigureAwait(false);
        return spans.Count == 0
            ? ApiResults.Problem(404, "no trace yet",
                $"run '{run.Record.RunId}' ({run.Record.Status.ToString().ToLowerInvariant()}) has no trace in the store yet: its trace is written when it parks or ends; read its steps from /api/runs/{run.Record.RunId}")
            : Results.Json(RunSpansJson.ToJson(run.Record.RunId, traceId, spans));
    }

    private static Dictionary<string, string> Strings(JsonNode? node, string field)
    {
        if (node is null)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        if (node is not JsonObject map)
        {
            throw new InputException([$"'{field}' must be an object of NAME: value"]);
        }

        return map.ToDictionary(kv => kv.Key, kv => kv.Value switch
        {
            JsonValue v when v.TryGetValue<string>(out var text) => text,
            null => string.Empty,
            var other => other.ToJsonString(),
        }, StringComparer.Ordinal);
    }
}
