using System.CommandLine;
using AgentFlow.Cli.Output;
using AgentFlow.Models;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow models</c>: lists the registry's models and whether each is usable here.</summary>
internal static class ModelsCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var config = CommonOptions.Config();
        var command = new Command("models", "List the models of the registry (built-ins, agentflow.yaml, environment overrides) and check each.") { config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            await using var host = new ModelHost(registry, cli.CreateProviders());
            cli.Out.WriteLine(registry.SourcePath is null ? "registry: built-in models only" : $"registry: {registry.SourcePath}");
            foreach (var spec in registry.Models.Values)
            {
                var problems = host.Check(spec);
                cli.Out.WriteLine($"  {spec.Name,-16} {spec.Provider,-8} {(problems.Count == 0 ? "ok" : "unusable")}");
                foreach (var problem in problems)
                {
                    cli.Out.WriteLine($"      {problem}");
                }
            }

            cli.Out.WriteLine("embedders:");
            await using var embedders = new Retrieval.Embedding.EmbedderHost(registry, CliContext.CreateEmbeddingProviders());
            foreach (var spec in registry.Embedders.Values)
            {
                var problems = embedders.Check(spec);
                cli.Out.WriteLine($"  {spec.Name,-16} {spec.Provider,-8} {(problems.Count == 0 ? "ok" : "unusable")}");
                foreach (var problem in problems)
                {
                    cli.Out.WriteLine($"      {problem}");
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
