using System.CommandLine;
using AgentFlow;
using AgentFlow.Cli;
using AgentFlow.Cli.Commands;
using AgentFlow.Cli.Output;

var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details (and stack traces of internal errors) on stderr.", Recursive = true };
ParseResult? parsed = null;
CliContext Context() => CliContext.CreateDefault(parsed?.GetValue(verbose) ?? false);

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
    IndexCommand.Create(Context),
    CollectionsCommand.Create(Context),
};

parsed = root.Parse(args);
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
}
catch (AgentFlowException ex)
{
    // Every user-facing error derives from AgentFlowException and says what to do; no stack trace for bad input.
    DiagnosticPrinter.PrintError(Console.Error, ex.Message);
    return ExitCodes.BadInput;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("cancelled");
    return ExitCodes.Cancelled;
}
catch (Exception ex) when (!parsed.GetValue(verbose))
{
    Console.Error.WriteLine($"error: internal error: {ex.GetType().Name}: {ex.Message}");
    Console.Error.WriteLine("       run again with --verbose for the stack trace, and please report it.");
    return ExitCodes.RunFailed;
}
