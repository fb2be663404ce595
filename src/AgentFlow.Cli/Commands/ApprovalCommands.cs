using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Server;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow approvals list</c>, <c>approve RUN STEP</c>, <c>reject RUN STEP</c> and <c>runs resume RUN</c>:
/// decide parked runs and continue interrupted ones from their checkpoints, from any process.
/// </summary>
internal static class ApprovalCommands
{
    public static Command Approvals(Func<CliContext> context)
    {
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var list = new Command("list", "Runs waiting for a decision: run id, workflow, step, question, deadline; for a tool call, the tool and its arguments.") { config, json };
        list.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            await using var runs = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            var waiting = (await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false)).Where(r => r.Record.Waiting is not null).ToList();
            if (parse.GetValue(json))
            {
                var array = new JsonArray();
                foreach (var run in waiting)
                {
                    array.Add(RunResultJson.Approval(run.Record, run.Record.Waiting!));
                }

                cli.Out.WriteLine(array.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }

            if (waiting.Count == 0)
            {
                cli.Error.WriteLine($"no run is waiting for a decision ({runs.Description})");
                return ExitCodes.Success;
            }

            var now = cli.Time.GetUtcNow();
            foreach (var run in waiting)
            {
                var w = run.Record.Waiting!;
                var deadline = w.Deadline is { } d ? (d <= now ? $"timed out at {d:u} (on_timeout: {w.OnTimeout} applies when resumed)" : $"until {d:u}, then {w.OnTimeout}") : "no deadline";
                cli.Out.WriteLine($"{run.RunId}  {run.Record.Workflow}  step '{w.StepId}'  since {w.RequestedAt:u}  {deadline}");
                cli.Out.WriteLine($"    {w.Message}");
                if (w.Tool is { } tool)
                {
                    // A tool call: what would run, exactly as the model asked for it.
                    cli.Out.WriteLine($"    tool: {tool}  arguments: {w.Arguments}");
                    cli.Out.WriteLine($"    decide: agentflow approve {run.RunId} {w.StepId}   |   agentflow reject {run.RunId} {w.StepId} --comment \"why\"");
                    continue;
                }

                if (w.Show is { Length: > 0 } show)
                {
                    cli.Out.WriteLine($"    > {(show.Length > 400 ? show[..400] + "…" : show).ReplaceLineEndings("\n    > ")}");
                }
            }

            return ExitCodes.Success;
        });
        return new Command("approvals", "Approval steps and tool calls (approve: true) runs are waiting at.") { list };
    }

    public static Command Decide(Func<CliContext> context, bool approve)
    {
        var runId = new Argument<string>("run") { Description = "The waiting run's id (see 'agentflow approvals list')." };
        var step = new Argument<string>("step") { Description = "The approval step it waits at (for a tool call: the agent step that made it)." };
        var comment = new Option<string?>("--comment", "-m") { Description = "Why; kept in the run record and its audit chain." };
        var who = new Option<string?>("--as") { Description = "Who decides (default: the OS user)." };
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var command = new Command(
            approve ? "approve" : "reject",
            (approve ? "Approve" : "Reject") + " a waiting run's approval step and continue the run here to its end or its next approval (exit codes as 'run').")
        {
            runId, step, comment, who, config, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var by = parse.GetValue(who) is { Length: > 0 } name ? name : Environment.UserName;
            var answer = new ApprovalAnswer(parse.GetValue(step)!, approve, by, parse.GetValue(comment));
            return await ContinueAsync(cli, parse.GetValue(runId)!, answer, parse.GetValue(config), parse.GetValue(json), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Resume(Func<CliContext> context)
    {
        var runId = new Argument<string?>("run") { Description = "The run to continue from its last checkpoint.", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Continue every interrupted run, and every waiting run whose approval timed out." };
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var command = new Command("resume", "Continue an interrupted run (its process died) from its last checkpoint; steps that finished are not run again.")
        {
            runId, all, config, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            if (parse.GetValue(runId) is { } id)
            {
                return await ContinueAsync(cli, id, answer: null, parse.GetValue(config), parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }

            if (!parse.GetValue(all))
            {
                DiagnosticPrinter.PrintError(cli.Error, "name a run to resume, or pass --all");
                return ExitCodes.BadInput;
            }

            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            List<DurableRun> due;
            await using (var runs = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false))
            {
                var now = cli.Time.GetUtcNow();
                due = [.. (await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
                    .Where(r => r.Record.Status == RunStatus.Running || r.Record.Waiting?.Deadline <= now)
                    .Where(r => r.Record.ParentRunId is null)]; // child runs are continued by their parents
            }

            var worst = ExitCodes.Success;
            foreach (var run in due)
            {
                cli.Error.WriteLine($"resuming run {run.RunId} ({run.Record.Workflow})");
                var code = await ContinueAsync(cli, run.RunId, answer: null, parse.GetValue(config), parse.GetValue(json), cancellationToken).ConfigureAwait(false);
                worst = code is ExitCodes.Success or ExitCodes.Waiting ? worst : code;
            }

            cli.Error.WriteLine($"{due.Count} run(s) resumed");
            return worst;
        });
        return command;
    }

    /// <summary>Continues a stored run in this process (the decision, when given, answers its approval).</summary>
    internal static async Task<int> ContinueAsync(
        CliContext cli, string runId, ApprovalAnswer? answer, string? configPath, bool json, CancellationToken cancellationToken, bool background = false, IRunObserver? listener = null)
    {
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        DurableRun? stored;
        string where;
        await using (var runs = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false))
        {
            stored = await runs.LoadAsync(runId, cancellationToken).ConfigureAwait(false);
            where = runs.Description;
        }

        if (stored is null)
        {
            DiagnosticPrinter.PrintError(cli.Error, $"no run '{runId}' in {where}; 'agentflow approvals list' shows waiting runs (run this from the directory the run started in, or with the same AGENTFLOW_REDIS)");
            return ExitCodes.BadInput;
        }

        // The run continues with the model registry it started with, unless --config says otherwise.
        if (configPath is null && stored.Host.GetValueOrDefault(RunHost.ConfigKey) is { Length: > 0 } startedWith)
        {
            if (cli.TryLoadRegistry(startedWith) is not { } original)
            {
                return ExitCodes.BadInput;
            }

            registry = original;
        }

        var loaded = WorkflowLoader.Load(stored.WorkflowPath);
        DiagnosticPrinter.Print(cli.Error, loaded.Diagnostics);
        if (!loaded.Succeeded)
        {
            DiagnosticPrinter.PrintError(cli.Error, $"run {runId} cannot continue: its workflow file {stored.WorkflowPath} no longer loads");
            return ExitCodes.BadInput;
        }

        var definition = loaded.Definition!;
        var code = await RunHost.ExecuteAsync(cli, definition, registry, stored.Bindings, stored.Host, resumeRunId: stored.RunId, json,
            (runner, observer, _, ct) => runner.ResumeAsync(new ResumeRequest(stored, definition) { Answer = answer }, observer, ct),
            cancellationToken, background: background, listener: listener).ConfigureAwait(false);
        if (answer is not null && stored.Record.Steps.LastOrDefault(s => s.Id == answer.StepId)?.Approval?.DecidedBy == Execution.Engine.ApprovalDecision.Timeout)
        {
            cli.Error.WriteLine($"warning: approval '{answer.StepId}' had timed out before this decision; its on_timeout applied instead");
        }

        return code;
    }
}
