using System.CommandLine;
using AgentFlow.Cli.Output;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow validate FILE...</c>: reports every problem of every file at once, like a compiler.</summary>
internal static class ValidateCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var files = new Argument<string[]>("files") { Description = "Workflow files to check.", Arity = ArgumentArity.OneOrMore };
        var config = CommonOptions.Config();
        var command = new Command("validate", "Check workflow files and report every error as file:line:col (exit code 2 when any).") { files, config };
        command.SetAction(parse =>
        {
            using var cli = context();
            return Run(cli, parse.GetValue(files)!, parse.GetValue(config));
        });
        return command;
    }

    private static int Run(CliContext cli, string[] files, string? configPath)
    {
        var errors = 0;
        var registry = TryLoadRegistry(cli, configPath, ref errors);
        foreach (var file in files)
        {
            var result = WorkflowLoader.Load(file);
            var diagnostics = result.Diagnostics.ToList();
            if (result.Definition is { } definition && registry is not null)
            {
                // Default bindings must name registry models; --bind can change them per run, so this is checked here too.
                diagnostics.AddRange(definition.Models
                    .Where(m => !registry.TryGet(m.Model, out _))
                    .Select(m => new Diagnostic(m.Location, "AF0220",
                        $"model alias '{m.Alias}' is bound to '{m.Model}', which the model registry does not define",
                        $"known models: {string.Join(", ", registry.Models.Keys)}; declare it in {registry.SourcePath ?? "agentflow.yaml"}")));
            }

            DiagnosticPrinter.Print(cli.Error, diagnostics);
            var fileErrors = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            errors += fileErrors;
            if (fileErrors == 0)
            {
                cli.Out.WriteLine($"{file}: ok");
            }
        }

        if (errors > 0)
        {
            cli.Error.WriteLine($"{errors} error(s)");
            return ExitCodes.BadInput;
        }

        return ExitCodes.Success;
    }

    private static Models.ModelRegistry? TryLoadRegistry(CliContext cli, string? configPath, ref int errors)
    {
        try
        {
            return cli.LoadRegistry(configPath);
        }
        catch (DefinitionException ex)
        {
            DiagnosticPrinter.Print(cli.Error, ex.Diagnostics);
            errors += ex.Diagnostics.Count;
            return null;
        }
    }
}
