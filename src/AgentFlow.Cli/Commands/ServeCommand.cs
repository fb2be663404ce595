using System.CommandLine;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Models;
using AgentFlow.Server;
using AgentFlow.Tracking.MLflow;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow serve</c>: a long-running orchestrator (the host is AgentFlow.Server). It continues every run no live
/// process owns, applies approval timeouts, takes over runs of dead orchestrators and serves the HTTP API and the
/// dashboard. This command only reads the options and supplies how runs execute: as <c>run</c> and <c>approve</c> do.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var urls = new Option<string>("--urls") { Description = "Where the HTTP API listens, ';'-separated (default http://127.0.0.1:8080; port 0 picks a free one). Beyond loopback needs AGENTFLOW_API_TOKEN.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
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
            var options = new ServerOptions
            {
                Urls = parse.GetValue(urls)!,
                WorkflowsDirectory = Path.GetFullPath(parse.GetValue(workflows)!, cli.WorkingDirectory),
                WorkingDirectory = cli.WorkingDirectory,
                Token = cli.Environment.GetValueOrDefault(ServerOptions.TokenVariable),
                AllowedOrigins = parse.GetValue(origins) ?? [],
                SweepInterval = TimeSpan.FromSeconds(Math.Max(0.2, parse.GetValue(sweep))),
            };
            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            // One run store (one Redis connection) for the host's lifetime: the sweep and every request share it.
            await using var runStore = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            var executor = new CliRunExecutor(cli, registry, parse.GetValue(config), parse.GetValue(tracking));
            IReadOnlyList<string> addresses;
            await using var app = ServerHost.Build(options, runStore, registry, executor, cli.LoggerFactory, cli.Time);
            try
            {
                addresses = await ServerHost.StartAsync(app, cancellationToken).ConfigureAwait(false);
            }
            catch (ServerConfigurationException ex)
            {
                DiagnosticPrinter.PrintError(cli.Error, ex.Message);
                return ExitCodes.BadInput;
            }

            cli.Error.WriteLine($"agentflow serve: listening on {string.Join(", ", addresses)}; runs in {runStore.Description}; Ctrl+C to stop");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Runs in flight stop with the process: they stay resumable (the next serve, or another one, continues them).
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
                cli.Error.WriteLine("agentflow serve: stopped; unfinished runs continue on the next serve");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Runs for the server exactly as <c>run</c> and <c>approve</c> execute them, recorded with trigger <c>api</c>.</summary>
    private sealed class CliRunExecutor(CliContext cli, ModelRegistry registry, string? configPath, string? trackingUri) : IRunExecutor
    {
        public async Task ExecuteAsync(WorkflowDefinition definition, IReadOnlyDictionary<string, string> inputs, IReadOnlyDictionary<string, string> bindings, IRunObserver observer, CancellationToken cancellationToken)
        {
            var host = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [RunHost.ConfigKey] = configPath is null ? string.Empty : Path.GetFullPath(configPath, cli.WorkingDirectory),
                [RunHost.RecordKey] = "true",
                [RunHost.TrackingKey] = trackingUri ?? string.Empty,
            };
            await RunHost.ExecuteAsync(cli, definition, registry, bindings, host, resumeRunId: null, json: false,
                (runner, progress, runId, ct) => runner.RunAsync(new RunRequest(definition) { Inputs = inputs, Bindings = bindings, RunId = runId ?? Guid.NewGuid().ToString("N"), Host = host }, progress, ct),
                cancellationToken, background: true, listener: observer, trigger: "api").ConfigureAwait(false);
        }

        public Task ContinueAsync(string runId, ApprovalAnswer? answer, IRunObserver observer, CancellationToken cancellationToken) =>
            ApprovalCommands.ContinueAsync(cli, runId, answer, configPath, json: false, cancellationToken, background: true, listener: observer);

        public IMlflowStore OpenTracking() => cli.OpenTracking(trackingUri);

        public async Task<(JsonNode? Report, string? Problem)> CompareExperimentAsync(IMlflowStore store, string name, CancellationToken cancellationToken)
        {
            var (report, problem) = await ExperimentCommand.CompareAsync(store, name, workflowName: null, filter: null, seed: 42, cancellationToken).ConfigureAwait(false);
            return (report?.ToJson(), problem);
        }
    }
}
