using System.CommandLine;
using AgentFlow;
using AgentFlow.Cli;
using AgentFlow.Cli.Commands;
using AgentFlow.Cli.Completion;
using AgentFlow.Cli.Output;
using AgentFlow.Cli.Scaffold;
using AgentFlow.Secrets;

// The template parser takes ~0.2 s to build on a cold start: build it on a pool thread while the command line and
// the workflow file are read, for the commands that load workflows.
if (args is [("run" or "validate" or "serve" or "experiment" or "approve" or "reject" or "runs"), ..])
{
    ThreadPool.QueueUserWorkItem(_ => AgentFlow.Definitions.WorkflowLoader.PrepareTemplates());
}

var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details (and stack traces of internal errors) on stderr.", Recursive = true };
ParseResult? parsed = null;
// One set of known secrets for the process: the commands' contexts add to it, the handlers below scrub with it.
var secrets = new SecretRedactor();
CliContext Context() => CliContext.CreateDefault(parsed?.GetValue(verbose) ?? false, secrets);

var root = new RootCommand("AgentFlow: run multi-step AI workflows on local and remote models.")
{
    verbose,
    RunCommand.Create(Context),
    ValidateCommand.Create(Context),
    ModelsCommand.Create(Context),
    WorkerCommand.Create(Context),
    MemoryCommand.Create(Context),
    RunsCommand.Create(Context),
    ApprovalCommands.Approvals(Context),
    ApprovalCommands.Decide(Context, approve: true),
    ApprovalCommands.Decide(Context, approve: false),
    BenchCommand.Create(Context),
    ServeCommand.Create(Context),
    ExperimentCommand.Create(Context),
    InitCommand.Create(Context),
    CompletionCommand.Create(),
    IndexCommand.Create(Context),
    CollectionsCommand.Create(Context),
};
CompletionSources.Attach(root, Context);

parsed = root.Parse(args);
// OTLP export of traces and metrics when OTEL_EXPORTER_OTLP_ENDPOINT is set; disposed (flushed) before the process exits.
using var telemetry = AgentFlow.Cli.Hosting.TelemetryExport.Start(
    Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? string.Empty, StringComparer.Ordinal));
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
}
catch (AgentFlowException ex)
{
    // Every user-facing error derives from AgentFlowException and says what to do; no stack trace for bad input.
    DiagnosticPrinter.PrintError(Console.Error, secrets.Redact(ex.Message));
    return ExitCodes.BadInput;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("cancelled");
    return ExitCodes.Cancelled;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"error: internal error: {ex.GetType().Name}: {secrets.Redact(ex.Message)}");
    Console.Error.WriteLine(parsed.GetValue(verbose)
        ? secrets.Redact(ex.ToString())
        : "       run again with --verbose for the stack trace, and please report it.");
    return ExitCodes.RunFailed;
}
