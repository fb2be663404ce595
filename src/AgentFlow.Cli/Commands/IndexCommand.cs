using System.CommandLine;
using System.Globalization;
using AgentFlow.Cli.Output;
using AgentFlow.Retrieval;
using AgentFlow.Retrieval.Chunking;
using AgentFlow.Retrieval.Indexing;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow index DIR --collection NAME</c>: chunks, embeds and stores a folder of documents, incrementally.</summary>
internal static class IndexCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var directory = new Argument<string>("DIR") { Description = "The folder of markdown/text documents to index." };
        var collection = new Option<string>("--collection") { Description = "The collection to index into (created on the embedded store with minilm when agentflow.yaml does not name it).", Required = true };
        var chunkTokens = new Option<int>("--chunk-tokens") { Description = "Most tokens per chunk, counted with the embedder's tokenizer.", DefaultValueFactory = _ => ChunkingOptions.DefaultChunkTokens };
        var overlap = new Option<int>("--overlap") { Description = "Tokens repeated between consecutive chunks of one section.", DefaultValueFactory = _ => ChunkingOptions.DefaultOverlapTokens };
        var glob = new Option<string[]>("--glob") { Description = "Files to index, relative to DIR (repeatable; default: **/*.md, **/*.markdown, **/*.txt).", AllowMultipleArgumentsPerToken = false };
        var config = CommonOptions.Config();
        var command = new Command("index", "Index a folder of documents into a collection: chunk, embed, store; unchanged files are skipped, deleted ones removed.")
        {
            directory, collection, chunkTokens, overlap, glob, config,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            if (cli.TryLoadRegistry(parse.GetValue(config)) is not { } registry)
            {
                return ExitCodes.BadInput;
            }

            var request = new IndexRequest
            {
                Directory = Path.GetFullPath(parse.GetValue(directory)!, cli.WorkingDirectory),
                Globs = parse.GetValue(glob) is { Length: > 0 } globs ? globs : IndexRequest.DefaultGlobs,
                Chunking = new ChunkingOptions { ChunkTokens = parse.GetValue(chunkTokens), OverlapTokens = parse.GetValue(overlap) },
            };
            var name = parse.GetValue(collection)!;
            try
            {
                request.Chunking.Validate();
                if (!Models.CollectionSpec.IsValidName(name))
                {
                    throw new RetrievalException($"invalid collection name '{name}': use up to 48 letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
                }

                await using var collections = cli.OpenCollections(registry);
                var target = await collections.OpenAsync(name, mustExist: false, cancellationToken).ConfigureAwait(false);
                var progress = cli.ErrorIsTerminal ? new Bar(cli.Error) : null;
                var summary = await DocumentIndexer.IndexAsync(target, request, progress, cli.Time, cancellationToken).ConfigureAwait(false);
                progress?.Done();
                foreach (var warning in summary.Warnings)
                {
                    cli.Error.WriteLine($"warning: {warning}");
                }

                var seconds = summary.Elapsed.TotalSeconds;
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"collection '{name}' ({target.Spec.Store}, {target.Store.Location}, embedder {target.Spec.Embedder}, {target.Dimensions} dimensions)"));
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  files: {summary.Files} found, {summary.Indexed} indexed, {summary.Skipped} skipped (unchanged), {summary.Removed} removed, {summary.Warnings.Count} not readable"));
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  chunks: {summary.Chunks} written, {summary.Tokens} tokens, {seconds:0.00} s{(summary.Chunks > 0 && seconds > 0 ? $" ({summary.Chunks / seconds:0} chunks/s)" : string.Empty)}"));
                return ExitCodes.Success;
            }
            catch (Exception ex) when (ex is RetrievalException or ModelConfigurationException or ArgumentOutOfRangeException)
            {
                DiagnosticPrinter.PrintError(cli.Error, ex is ArgumentOutOfRangeException range ? range.Message.Split(" (Parameter")[0] : ex.Message);
                return ExitCodes.BadInput;
            }
        });
        return command;
    }

    /// <summary>A one-line progress bar on an interactive stderr.</summary>
    private sealed class Bar(TextWriter error) : IProgress<IndexProgress>
    {
        private const int Width = 30;

        public void Report(IndexProgress value)
        {
            var filled = value.Total == 0 ? Width : value.Done * Width / value.Total;
            var source = value.Source.Length > 40 ? "…" + value.Source[^39..] : value.Source;
            error.Write(string.Create(CultureInfo.InvariantCulture, $"\r  [{new string('#', filled)}{new string('.', Width - filled)}] {value.Done}/{value.Total} files, {value.Chunks} chunks  {source,-40}"));
        }

        public void Done() => error.Write("\r" + new string(' ', Width + 80) + "\r");
    }
}
