using System.Collections.Concurrent;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Cli.Security;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Models;
using AgentFlow.Tracking.MLflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow serve</c>: a long-running orchestrator. At start and then every sweep it continues every run
/// that is not finished and not owned by a live process (interrupted runs, runs whose owner died and whose lease
/// lapsed, approvals whose timeout passed); with Redis several serve processes share the runs. An HTTP API starts
/// runs, reads them and decides approvals.
/// </summary>
internal static partial class ServeCommand
{
    /// <summary>Largest request body accepted (runs are started with small JSON documents).</summary>
    public const long MaxRequestBytes = 256 * 1024;

    public static Command Create(Func<CliContext> context)
    {
        var urls = new Option<string>("--urls") { Description = "Where the HTTP API listens (default http://127.0.0.1:8080; port 0 picks a free one).", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var workflows = new Option<string>("--workflows") { Description = "Folder of the workflows the API may start (default ./workflows).", DefaultValueFactory = _ => "workflows" };
        var sweep = new Option<double>("--sweep") { Description = "Seconds between sweeps for interrupted runs, lapsed leases and due approval timeouts (default 5).", DefaultValueFactory = _ => 5 };
        var origins = new Option<Uri[]>("--allow-origin") { Description = "An extra origin (scheme://host:port) whose pages may call the API, e.g. a proxy in front of it (repeatable; the bound addresses are always allowed)." };
        var config = CommonOptions.Config();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("serve", "Run a long-lived orchestrator: resumes interrupted runs, applies approval timeouts, takes over runs of dead orchestrators, serves the HTTP API.")
        {
            urls, workflows, sweep, origins, config, tracking,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var security = new ApiSecurity(cli.Environment.GetValueOrDefault(ApiSecurity.TokenVariable), parse.GetValue(origins) ?? []);
            var url = parse.GetValue(urls)!;
            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            // One run store (one Redis connection) for the host's lifetime: the sweep and every request share it.
            await using var runStore = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            var server = new Server(cli, registry, runStore, parse.GetValue(config), parse.GetValue(tracking), Path.GetFullPath(parse.GetValue(workflows)!, cli.WorkingDirectory));
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(url);
            builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = MaxRequestBytes);
            builder.Services.AddOpenApi();
            await using var app = builder.Build();
            app.UseMiddleware<ApiSecurityMiddleware>(security);
            server.Map(app);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            // Decided from what Kestrel bound (--urls splits on ';', Kestrel__Endpoints__* overrides it); until this
            // check passed the middleware answers 503 to everything, so nothing is ever served unauthenticated beyond loopback.
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? app.Urls;
            try
            {
                security.Verify(addresses);
            }
            catch (ServeConfigurationException ex)
            {
                DiagnosticPrinter.PrintError(cli.Error, ex.Message);
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
                return ExitCodes.BadInput;
            }

            cli.Error.WriteLine($"agentflow serve: listening on {string.Join(", ", addresses)}; runs in {runStore.Description}; Ctrl+C to stop");
            try
            {
                await server.SweepForeverAsync(TimeSpan.FromSeconds(Math.Max(0.2, parse.GetValue(sweep))), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Runs in flight stop with the process: they stay resumable (the next serve, or another one, continues them).
                cli.Error.WriteLine("agentflow serve: stopped; unfinished runs continue on the next serve");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private sealed partial class Server(CliContext cli, ModelRegistry registry, IRunStore runs, string? configPath, string? trackingUri, string workflowsDirectory)
    {
        private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);
        private readonly RunEventHub _hub = new();
        private readonly ILogger _logger = cli.LoggerFactory.CreateLogger("AgentFlow.Serve");

        public void Map(WebApplication app)
        {
            app.MapOpenApi(); // /openapi/v1.json
            app.MapGet("/healthz", () => Results.Json(new JsonObject { ["status"] = "ok", ["runs_in_flight"] = _inFlight.Count }));
            app.MapPost("/api/runs", (Delegate)StartRunAsync);
            app.MapGet("/api/workflows", ListWorkflows);
            app.MapGet("/api/runs", ListRunsAsync);
            app.MapGet("/api/runs/{id}", GetRunAsync);
            app.MapGet("/api/runs/{id}/events", (Delegate)StreamEventsAsync);
            app.MapGet("/api/runs/{id}/verify", VerifyAsync);
            app.MapGet("/api/experiments/{name}", CompareExperimentAsync);
            app.MapGet("/api/approvals", ListApprovalsAsync);
            app.MapPost("/api/runs/{id}/approvals/{step}", DecideAsync);
            Dashboard.Map(app);
        }

        /// <summary>Continues every run no live process owns; called at start and every <paramref name="interval"/>.</summary>
        public async Task SweepForeverAsync(TimeSpan interval, CancellationToken cancellationToken)
        {
            using var timer = new PeriodicTimer(interval, cli.Time);
            do
            {
                try
                {
                    await SweepAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is AgentFlowException or IOException)
                {
                    LogSweepFailed(_logger, ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }

        private async Task SweepAsync(CancellationToken cancellationToken)
        {
            var now = cli.Time.GetUtcNow();
            foreach (var run in await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
            {
                var due = run.Record.Status == RunStatus.Running || run.Record.Waiting?.Deadline <= now;
                if (!due || _inFlight.ContainsKey(run.RunId))
                {
                    continue;
                }

                // Probe the lease: a live owner (this process or another) keeps its run.
                var probe = await runs.TryAcquireLeaseAsync(run.RunId, "probe", cancellationToken).ConfigureAwait(false);
                if (probe is null)
                {
                    continue;
                }

                await probe.DisposeAsync().ConfigureAwait(false);
                LogTakingOver(_logger, run.RunId, run.Record.Status);
                Launch(run.RunId, () => ApprovalCommands.ContinueAsync(cli, run.RunId, answer: null, configPath, json: false, CancellationToken.None, background: true, listener: _hub));
            }
        }

        private void Launch(string runId, Func<Task<int>> work)
        {
            var task = Task.Run(async () =>
            {
                try
                {
                    await work().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is AgentFlowException or IOException or InvalidOperationException)
                {
                    LogRunFailed(_logger, runId, ex.Message);
                }
                finally
                {
                    _inFlight.TryRemove(runId, out _);
                }
            });
            _inFlight.TryAdd(runId, task);
        }

        private async Task<IResult> StartRunAsync(HttpContext http)
        {
            var (body, invalid) = await ReadObjectAsync(http, "{\"workflow\": \"hello\", \"inputs\": {\"name\": \"Ada\"}, \"bindings\": {}}").ConfigureAwait(false);
            if (body is null)
            {
                return invalid!;
            }

            var name = body["workflow"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name) || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
            {
                return Problem(400, "unknown workflow", "'workflow' names a workflow of the workflows folder (letters, digits, '-', '_'; no path)");
            }

            var file = Path.Combine(workflowsDirectory, name + ".yaml");
            if (!File.Exists(file))
            {
                return Problem(404, "unknown workflow", $"no workflow '{name}' ({name}.yaml) in the workflows folder; GET /api/workflows lists them");
            }

            var loaded = WorkflowLoader.Load(file);
            if (!loaded.Succeeded)
            {
                return Problem(422, "invalid workflow", string.Join("\n", loaded.Diagnostics.Select(d => d.ToString())));
            }

            var definition = loaded.Definition!;
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
                return Problem(400, "bad inputs or bindings", ex.Message);
            }

            var host = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [RunHost.ConfigKey] = configPath is null ? string.Empty : Path.GetFullPath(configPath, cli.WorkingDirectory),
                [RunHost.RecordKey] = "true",
                [RunHost.TrackingKey] = trackingUri ?? string.Empty,
            };
            var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var placeholder = Guid.NewGuid().ToString("N");
            Launch(placeholder, async () =>
            {
                try
                {
                    return await RunHost.ExecuteAsync(cli, definition, registry, bindings, host, resumeRunId: null, json: false,
                        (runner, observer, runId, ct) =>
                        {
                            var id = runId ?? Guid.NewGuid().ToString("N");
                            // Answer the client once the run is saved, so its id can be read back at once.
                            var signal = new StartedSignal(observer, started);
                            return runner.RunAsync(new RunRequest(definition) { Inputs = inputs, Bindings = bindings, RunId = id, Host = host }, signal, ct);
                        },
                        CancellationToken.None, background: true, listener: _hub, trigger: "api").ConfigureAwait(false);
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
                return Problem(500, "the run did not start", ex.Message);
            }
        }

        private IResult ListWorkflows()
        {
            var array = new JsonArray();
            if (Directory.Exists(workflowsDirectory))
            {
                foreach (var file in Directory.GetFiles(workflowsDirectory, "*.yaml").Order(StringComparer.Ordinal))
                {
                    var loaded = WorkflowLoader.Load(file);
                    var definition = loaded.Definition;
                    array.Add(new JsonObject
                    {
                        ["name"] = Path.GetFileNameWithoutExtension(file),
                        ["description"] = definition?.Description,
                        ["valid"] = loaded.Succeeded,
                        ["diagnostics"] = new JsonArray([.. loaded.Diagnostics.Select(d => (JsonNode)JsonValue.Create(Hide(d.ToString())))]),
                        ["inputs"] = new JsonArray([.. (definition?.Inputs ?? []).Select(i => (JsonNode)new JsonObject
                        {
                            ["name"] = i.Name,
                            ["type"] = i.Type.ToString().ToLowerInvariant(),
                            ["required"] = i.Required,
                            ["default"] = i.Default?.ToString(),
                        })]),
                    });
                }
            }

            return Results.Json(array);
        }

        private async Task<IResult> ListRunsAsync(string? workflow, string? status, int? limit, CancellationToken cancellationToken)
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

        // Server-Sent Events: the run as it is now, then every event until it finishes or parks.
        private async Task StreamEventsAsync(string id, HttpContext http)
        {
            DurableRun? stored;
            using var subscription = _hub.Subscribe(id);
            try
            {
                stored = await runs.LoadAsync(id, http.RequestAborted).ConfigureAwait(false);
            }
            catch (RunStoreException ex)
            {
                await Problem(400, "bad run id", ex.Message).ExecuteAsync(http).ConfigureAwait(false);
                return;
            }

            if (stored is null)
            {
                await Problem(404, "unknown run", $"no run '{id}'").ExecuteAsync(http).ConfigureAwait(false);
                return;
            }

            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            var live = _hub.IsLive(id);
            await SendAsync(http, live ? "run" : stored.Record.Status == RunStatus.Waiting ? "waiting" : "run_finished", RunResultJson.ToJson(stored.Record)).ConfigureAwait(false);
            if (!live)
            {
                return;
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
                        ApprovalRequestedEvent e => ("approval_requested", new JsonObject { ["step"] = e.Waiting.StepId, ["message"] = e.Waiting.Message, ["show"] = e.Waiting.Show }),
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
        }

        private static async Task SendAsync(HttpContext http, string name, JsonNode data)
        {
            await http.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", http.RequestAborted).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        }

        // The comparison 'experiment report --name NAME --json' prints: per variant and step, with intervals.
        private async Task<IResult> CompareExperimentAsync(string name, CancellationToken cancellationToken)
        {
            await using var store = cli.OpenTracking(trackingUri);
            var (report, problem) = await ExperimentCommand.CompareAsync(store, name, workflowName: null, filter: null, seed: 42, cancellationToken).ConfigureAwait(false);
            return report is null ? Problem(404, "no such experiment", problem!) : Results.Json(report.ToJson());
        }

        private async Task<IResult> VerifyAsync(string id, CancellationToken cancellationToken)
        {
            await using var store = cli.OpenTracking(trackingUri);
            try
            {
                var run = await store.GetRunAsync(id, cancellationToken).ConfigureAwait(false);
                var transcript = await store.ReadTextArtifactAsync(id, Tracking.MLflow.Recording.RunTranscript.TranscriptPath, cancellationToken).ConfigureAwait(false);
                var audit = await store.ReadTextArtifactAsync(id, Tracking.MLflow.Recording.RunTranscript.AuditPath, cancellationToken).ConfigureAwait(false);
                var problem = Tracking.MLflow.Recording.RunTranscript.Verify(transcript, audit, run.Tag(Tracking.MLflow.Recording.RunTranscript.HeadTag));
                return Results.Json(new JsonObject
                {
                    ["run_id"] = id,
                    ["ok"] = problem is null,
                    ["message"] = problem ?? "the audit chain matches every step record",
                });
            }
            catch (Tracking.MLflow.MlflowException ex)
            {
                return Problem(404, "no record to verify", ex.Message);
            }
        }

        private async Task<IResult> GetRunAsync(string id, CancellationToken cancellationToken)
        {
            DurableRun? run;
            try
            {
                run = await runs.LoadAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (RunStoreException ex)
            {
                return Problem(400, "bad run id", ex.Message);
            }

            return run is null
                ? Problem(404, "unknown run", $"no run '{id}'")
                : Results.Text(RunResultJson.Serialize(run.Record), "application/json");
        }

        private async Task<IResult> ListApprovalsAsync(CancellationToken cancellationToken)
        {
            var array = new JsonArray();
            foreach (var run in await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
            {
                if (run.Record.Waiting is { } w)
                {
                    array.Add(RunResultJson.Approval(run.Record, w));
                }
            }

            return Results.Json(array);
        }

        private async Task<IResult> DecideAsync(string id, string step, HttpContext http)
        {
            var (body, invalid) = await ReadObjectAsync(http, "{\"approve\": true, \"comment\": \"…\", \"by\": \"alice\"}").ConfigureAwait(false);
            if (body is null)
            {
                return invalid!;
            }

            if (body["approve"] is not JsonValue approveValue || !approveValue.TryGetValue<bool>(out var approve))
            {
                return Problem(400, "missing decision", "'approve' must be true or false");
            }

            DurableRun? run;
            try
            {
                run = await runs.LoadAsync(id, http.RequestAborted).ConfigureAwait(false);
            }
            catch (RunStoreException ex)
            {
                return Problem(400, "bad run id", ex.Message);
            }

            if (run is null)
            {
                return Problem(404, "unknown run", $"no run '{id}'");
            }

            if (run.Record.Waiting?.StepId != step)
            {
                return Problem(409, "not waiting there", run.Record.Waiting is { } w ? $"run {id} waits at approval '{w.StepId}', not '{step}'" : $"run {id} is not waiting for a decision");
            }

            var answer = new ApprovalAnswer(step, approve, ApiSecurity.DecidedBy(http.User, body["by"]?.GetValue<string>()), body["comment"]?.GetValue<string>());
            Launch(id, () => ApprovalCommands.ContinueAsync(cli, id, answer, configPath, json: false, CancellationToken.None, background: true, listener: _hub));
            return Results.Json(new JsonObject { ["run_id"] = id, ["step"] = step, ["decision"] = approve ? "approved" : "rejected", ["url"] = $"/api/runs/{id}" }, statusCode: 202);
        }

        // The request body as a JSON object, or the 400 that says what to send instead.
        private async Task<(JsonObject? Body, IResult? Invalid)> ReadObjectAsync(HttpContext http, string example)
        {
            try
            {
                return (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted).ConfigureAwait(false) as JsonObject
                    ?? throw new JsonException("the body is not a JSON object"), null);
            }
            catch (JsonException ex)
            {
                return (null, Problem(400, "the body is not valid JSON", $"{ex.Message}; send {example}"));
            }
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

        /// <summary>Completes <paramref name="started"/> with the run id when the run has started (and is stored).</summary>
        private sealed class StartedSignal(IRunObserver inner, TaskCompletionSource<string> started) : IRunObserver
        {
            public void OnEvent(RunEvent runEvent)
            {
                inner.OnEvent(runEvent);
                if (runEvent is RunStartedEvent)
                {
                    started.TrySetResult(runEvent.RunId);
                }
            }
        }

        private IResult Problem(int status, string title, string detail) => Results.Problem(statusCode: status, title: title, detail: Hide(detail));

        // Responses never show server paths: workflow files relative to their folder, the rest relative to the working directory.
        private string Hide(string text) => text
            .Replace(workflowsDirectory + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)
            .Replace(workflowsDirectory, "the workflows folder", StringComparison.Ordinal)
            .Replace(cli.WorkingDirectory + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)
            .Replace(cli.WorkingDirectory, ".", StringComparison.Ordinal);

        [LoggerMessage(Level = LogLevel.Warning, Message = "serve: sweep failed: {Reason}")]
        private static partial void LogSweepFailed(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Information, Message = "serve: continuing run {RunId} ({Status})")]
        private static partial void LogTakingOver(ILogger logger, string runId, RunStatus status);

        [LoggerMessage(Level = LogLevel.Warning, Message = "serve: run {RunId} stopped: {Reason}")]
        private static partial void LogRunFailed(ILogger logger, string runId, string reason);
    }
}
