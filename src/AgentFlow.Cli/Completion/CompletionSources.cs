using System.CommandLine;
using System.CommandLine.Completions;
using AgentFlow.Tracking.MLflow;

namespace AgentFlow.Cli.Completion;

/// <summary>
/// Dynamic completions for the <c>[suggest]</c> directive behind <c>agentflow completion</c>: workflow files, model
/// names of the registry and recorded run ids. Attached by symbol name over the whole command tree, so every command
/// that takes a workflow file, a binding or a run id completes the same way without each one repeating it.
/// Completion never fails the shell: a registry or store that cannot be read gives no items.
/// </summary>
internal static class CompletionSources
{
    private static readonly HashSet<string> WorkflowArguments = new(StringComparer.Ordinal) { "file", "files" };
    private static readonly HashSet<string> RunArguments = new(StringComparer.Ordinal) { "run", "run-id", "run-ids", "run-a", "run-b" };

    /// <summary>Attaches the completion sources to every matching argument and option under <paramref name="root"/>.</summary>
    public static void Attach(Command root, Func<CliContext> context)
    {
        foreach (var command in Walk(root))
        {
            foreach (var argument in command.Arguments)
            {
                if (WorkflowArguments.Contains(argument.Name))
                {
                    argument.CompletionSources.Add(WorkflowFiles);
                }
                else if (RunArguments.Contains(argument.Name))
                {
                    argument.CompletionSources.Add(c => RunIds(context, c));
                }
            }

            foreach (var option in command.Options)
            {
                switch (option.Name)
                {
                    case "--bind":
                        option.CompletionSources.Add(c => Bindings(context, c));
                        break;
                    case "--models" or "--judge":
                        option.CompletionSources.Add(c => ModelNames(context, c));
                        break;
                }
            }
        }
    }

    private static IEnumerable<Command> Walk(Command command)
    {
        yield return command;
        foreach (var child in command.Subcommands.SelectMany(Walk))
        {
            yield return child;
        }
    }

    /// <summary>*.yaml / *.yml files in the folder being typed (default: the current folder and ./workflows).</summary>
    private static IEnumerable<CompletionItem> WorkflowFiles(CompletionContext context)
    {
        var word = context.WordToComplete;
        var folder = Path.GetDirectoryName(word);
        IEnumerable<string> folders = string.IsNullOrEmpty(folder) ? [".", "workflows"] : [folder];
        var items = new List<CompletionItem>();
        foreach (var dir in folders.Where(Directory.Exists))
        {
            var entries = Directory.EnumerateFiles(dir, "*.yaml").Concat(Directory.EnumerateFiles(dir, "*.yml"))
                .Where(path => !Path.GetFileName(path).StartsWith("agentflow.", StringComparison.Ordinal)) // the model registry, not a workflow
                .Select(path => dir == "." && string.IsNullOrEmpty(folder) ? Path.GetFileName(path) : path)
                .Where(path => path.StartsWith(word, StringComparison.Ordinal))
                .Order(StringComparer.Ordinal);
            items.AddRange(entries.Select(path => new CompletionItem(path, kind: "File")));
        }

        return items;
    }

    private static IEnumerable<CompletionItem> ModelNames(Func<CliContext> context, CompletionContext completion) =>
        Models(context)
            .Where(name => name.StartsWith(completion.WordToComplete, StringComparison.Ordinal))
            .Select(name => new CompletionItem(name));

    /// <summary><c>--bind ALIAS=</c> completes the model names after the '='; before it there is nothing to offer.</summary>
    private static IEnumerable<CompletionItem> Bindings(Func<CliContext> context, CompletionContext completion)
    {
        var word = completion.WordToComplete;
        var eq = word.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            return [];
        }

        var alias = word[..(eq + 1)];
        var prefix = word[(eq + 1)..];
        return Models(context)
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(name => new CompletionItem(alias + name));
    }

    private static IReadOnlyList<string> Models(Func<CliContext> context)
    {
        try
        {
            using var cli = context();
            return [.. cli.LoadRegistry(configPath: null).Models.Keys.Order(StringComparer.Ordinal)];
        }
        catch (AgentFlowException)
        {
            return [];
        }
    }

    /// <summary>The newest recorded run ids of the default store (the same one <c>runs list</c> reads).</summary>
    private static IEnumerable<CompletionItem> RunIds(Func<CliContext> context, CompletionContext completion)
    {
        try
        {
            using var cli = context();
            var store = cli.OpenTracking(trackingUri: null);
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var experiments = store.ListExperimentsAsync(timeout.Token).GetAwaiter().GetResult();
                if (experiments.Count == 0)
                {
                    return [];
                }

                var runs = store.SearchRunsAsync(
                    new MlflowRunQuery { ExperimentIds = [.. experiments.Select(e => e.ExperimentId)], OrderBy = ["attributes.start_time DESC"], MaxResults = 200 },
                    timeout.Token).GetAwaiter().GetResult().Runs;
                return [.. runs
                    .Where(r => r.Info.RunId.StartsWith(completion.WordToComplete, StringComparison.Ordinal))
                    .Select(r => new CompletionItem(r.Info.RunId, detail: r.Tag("agentflow.workflow")))];
            }
            finally
            {
                store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception ex) when (ex is AgentFlowException or IOException or OperationCanceledException or System.Data.Common.DbException)
        {
            return [];
        }
    }
}
