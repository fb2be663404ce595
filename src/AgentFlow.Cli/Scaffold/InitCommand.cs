using System.CommandLine;

namespace AgentFlow.Cli.Scaffold;

/// <summary><c>agentflow init [DIR] [--template triage|research|approval]</c>: writes a starter project that validates and runs at once.</summary>
internal static class InitCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var directory = new Argument<string>("dir") { Description = "Folder to create the project in (created when missing; default: the current folder).", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => "." };
        var template = new Option<string>("--template", "-t")
        {
            Description = $"Starter workflow: {string.Join(", ", ProjectTemplate.All.Select(t => $"{t.Name} ({t.Description})"))}.",
            DefaultValueFactory = _ => ProjectTemplate.Default,
        };
        template.AcceptOnlyFromAmong([.. ProjectTemplate.All.Select(t => t.Name)]);
        var command = new Command("init", "Write a starter project: workflow.yaml, agentflow.yaml, cases.jsonl, a README and the JSON Schemas (never overwrites).") { directory, template };
        command.SetAction(parse =>
        {
            using var cli = context();
            var chosen = ProjectTemplate.Find(parse.GetValue(template)!)!;
            var dir = parse.GetValue(directory)!;
            var target = Path.IsPathRooted(dir) ? dir : Path.Combine(cli.WorkingDirectory, dir);
            var written = Scaffolder.Write(target, chosen);
            foreach (var path in written)
            {
                cli.Out.WriteLine($"created {Path.GetRelativePath(cli.WorkingDirectory, path)}");
            }

            var cd = Path.GetRelativePath(cli.WorkingDirectory, target) is "." ? string.Empty : $"cd {Path.GetRelativePath(cli.WorkingDirectory, target)} && ";
            cli.Out.WriteLine();
            cli.Out.WriteLine($"next: {cd}agentflow run workflow.yaml {chosen.RunInputs}");
            return ExitCodes.Success;
        });
        return command;
    }
}
