using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Retrieval;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow collections list|show|query|delete</c>: what is indexed, and searching it by hand.</summary>
internal static class CollectionsCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(Func<CliContext> context)
    {
        var command = new Command("collections", "List, inspect, search and delete collections of indexed documents.");
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Show(context));
        command.Subcommands.Add(Query(context));
        command.Subcommands.Add(Delete(context));
        return command;
    }

    private static Command List(Func<CliContext> context)
    {
        var config = CommonOptions.Config();
        var command = new Command("list", "List the collections: those of agentflow.yaml and those on the embedded store.") { config };
        command.SetAction(async (parse, cancellationToken) => await WithCollectionsAsync(context, parse.GetValue(config), async (cli, collections) =>
        {
            var specs = collections.List();
            if (specs.Count == 0)
            {
                cli.Out.WriteLine("no collections yet: agentflow index DIR --collection NAME");
            }

            foreach (var spec in specs)
            {
                string state;
                try
                {
                    var count = await collections.StoreOf(spec).CountAsync(cancellationToken).ConfigureAwait(false);
                    state = count.ToString(CultureInfo.InvariantCulture) + " chunks";
                }
                catch (RetrievalException ex)
                {
                    state = "unusable: " + ex.Message;
                }

                cli.Out.WriteLine($"  {spec.Name,-16} {spec.Store,-9} {spec.Embedder,-10} {state}");
            }

            return ExitCodes.Success;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Show(Func<CliContext> context)
    {
        var name = new Argument<string>("NAME") { Description = "The collection." };
        var config = CommonOptions.Config();
        var command = new Command("show", "Show a collection: store, embedder, dimensions and the files it holds.") { name, config };
        command.SetAction(async (parse, cancellationToken) => await WithCollectionsAsync(context, parse.GetValue(config), async (cli, collections) =>
        {
            var open = await collections.OpenAsync(parse.GetValue(name)!, mustExist: true, cancellationToken).ConfigureAwait(false);
            var sources = await open.Store.ListSourcesAsync(cancellationToken).ConfigureAwait(false);
            cli.Out.WriteLine($"collection: {open.Spec.Name}");
            cli.Out.WriteLine($"store:      {open.Spec.Store} ({open.Store.Location})");
            cli.Out.WriteLine($"embedder:   {open.Spec.Embedder} — {open.Embedder.Description}");
            cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"dimensions: {open.Dimensions}"));
            cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"files:      {sources.Count}, {sources.Sum(s => Math.Max(0, s.Stored))} chunks"));
            foreach (var source in sources)
            {
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {source.Source,-40} {source.Stored,4} chunks{(source.IsComplete ? string.Empty : $" (incomplete: {source.ChunkCount} expected; index again)")}"));
            }

            return ExitCodes.Success;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Query(Func<CliContext> context)
    {
        var name = new Argument<string>("NAME") { Description = "The collection." };
        var text = new Argument<string>("TEXT") { Description = "What to search for." };
        var top = new Option<int>("--top") { Description = "How many chunks, best first.", DefaultValueFactory = _ => 5 };
        var minScore = new Option<double?>("--min-score") { Description = "Drop chunks with a lower cosine similarity." };
        var json = CommonOptions.Json();
        var config = CommonOptions.Config();
        var command = new Command("query", "Search a collection: the chunks closest in meaning to TEXT, with source and score.") { name, text, top, minScore, json, config };
        command.SetAction(async (parse, cancellationToken) => await WithCollectionsAsync(context, parse.GetValue(config), async (cli, collections) =>
        {
            var count = parse.GetValue(top);
            if (count is < 1 or > 100)
            {
                DiagnosticPrinter.PrintError(cli.Error, "--top must be from 1 to 100");
                return ExitCodes.BadInput;
            }

            var open = await collections.OpenAsync(parse.GetValue(name)!, mustExist: true, cancellationToken).ConfigureAwait(false);
            var chunks = await CollectionHost.SearchAsync(open, parse.GetValue(text)!, count, parse.GetValue(minScore), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var array = new JsonArray([.. chunks.Select(c => (JsonNode)new JsonObject
                {
                    ["id"] = c.Id,
                    ["source"] = c.Source,
                    ["heading"] = c.Heading,
                    ["score"] = Math.Round(c.Score, 4),
                    ["text"] = c.Text,
                })]);
                cli.Out.WriteLine(array.ToJsonString(Indented));
                return ExitCodes.Success;
            }

            if (chunks.Count == 0)
            {
                cli.Out.WriteLine(RetrievalFormat.NoResults);
            }

            for (var i = 0; i < chunks.Count; i++)
            {
                var c = chunks[i];
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{i + 1}] {c.Score:0.000}  {c.Source}{(c.Heading is null ? string.Empty : " › " + c.Heading)}"));
                var preview = c.Text.ReplaceLineEndings(" ");
                cli.Out.WriteLine("    " + (preview.Length > 200 ? preview[..200] + "…" : preview));
            }

            return ExitCodes.Success;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Delete(Func<CliContext> context)
    {
        var name = new Argument<string>("NAME") { Description = "The collection." };
        var config = CommonOptions.Config();
        var command = new Command("delete", "Delete a collection and everything indexed in it.") { name, config };
        command.SetAction(async (parse, cancellationToken) => await WithCollectionsAsync(context, parse.GetValue(config), async (cli, collections) =>
        {
            var spec = collections.Embedders.Registry.CollectionOrImplicit(parse.GetValue(name)!);
            var store = collections.StoreOf(spec);
            await store.EnsureCollectionDeletedAsync(cancellationToken).ConfigureAwait(false);
            cli.Out.WriteLine($"deleted collection '{spec.Name}' ({store.Location})");
            return ExitCodes.Success;
        }).ConfigureAwait(false));
        return command;
    }

    private static async Task<int> WithCollectionsAsync(Func<CliContext> context, string? configPath, Func<CliContext, CollectionHost, Task<int>> action)
    {
        using var cli = context();
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        try
        {
            await using var collections = cli.OpenCollections(registry);
            return await action(cli, collections).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RetrievalException or ModelConfigurationException)
        {
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
        }
    }
}
