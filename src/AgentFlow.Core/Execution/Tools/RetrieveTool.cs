using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution.Engine;
using AgentFlow.Retrieval;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// Opens <c>retrieve:</c> tools: each call searches the tool's collection for the model's <c>query</c> argument and
/// answers the ranked chunks as a JSON array (<c>id</c>, <c>source</c>, <c>heading</c>, <c>score</c>, <c>text</c>), the
/// shape of a retrieve step's <c>steps.ID.chunks</c>. The search (collection, query, top_k, min_score, chunks) goes in
/// the call's record as a retrieve step's does, so the audit chain names the documents the answer was based on.
/// </summary>
/// <param name="retriever">The host's retriever (the same one retrieve steps search with).</param>
internal sealed class RetrieveToolProvider(IRetriever retriever) : IToolProvider
{
    /// <summary>The one argument of a retrieve tool.</summary>
    public const string QueryArgument = "query";

    /// <summary>Longest query accepted (characters); a longer one is refused before anything is searched.</summary>
    public const int MaxQueryLength = 2000;

    public string Kind => "retrieve";

    public Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new ToolHandle([new RetrieveFunction(tool, (RetrieveToolSource)tool.Source, retriever)]));

    /// <summary>The schema a retrieve tool shows its model: one required, non-empty string, <c>query</c>.</summary>
    public static JsonObject Schema() => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            [QueryArgument] = new JsonObject
            {
                ["type"] = "string",
                ["minLength"] = 1,
                ["description"] = "What to search for, in plain words.",
            },
        },
        ["required"] = new JsonArray(QueryArgument),
    };

    /// <summary>A call's result: the chunks as JSON (what the model reads, and what a replay rebuilds from the record).</summary>
    public static string Result(IReadOnlyList<RetrievedChunk> chunks) => RetrieveStepExecutor.ToJson(chunks).ToJsonString();

    private sealed class RetrieveFunction(ToolDefinition tool, RetrieveToolSource source, IRetriever retriever) : AIFunction
    {
        public override string Name => tool.Name;

        public override string Description => tool.Description
            ?? $"Search the '{source.Collection}' documents. Returns up to {source.TopK} passages, best first, as JSON: source (the document), heading, score (cosine, 1 = identical) and text.";

        public override JsonElement JsonSchema { get; } = JsonSerializer.SerializeToElement(Schema());

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            // The invoker has checked the arguments against the schema: query is a non-empty string.
            var args = ToolArguments.ToJson(arguments);
            var query = (args[QueryArgument] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : args[QueryArgument]?.ToJsonString() ?? string.Empty).Trim();
            if (query.Length == 0)
            {
                throw new ArgumentException("the query is empty; pass the words to search for");
            }

            if (query.Length > MaxQueryLength)
            {
                // Not in the schema: a bound there would make local models' constrained decoding unroll it.
                throw new ArgumentException($"the query is {query.Length} characters long; search with at most {MaxQueryLength}");
            }

            IReadOnlyList<RetrievedChunk> chunks;
            try
            {
                chunks = await retriever.RetrieveAsync(source.Collection, query, source.TopK, source.MinScore, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AgentFlowException or HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                // The collection cannot be searched at all (checked before the run, so it went away mid-run): the step fails.
                throw new ToolUnavailableException($"tool '{tool.Name}' could not search collection '{source.Collection}': {ex.Message}", ex);
            }

            ToolInvoker.CurrentCall?.Retrieval = new RetrievalRecord { Collection = source.Collection, Query = query, TopK = source.TopK, MinScore = source.MinScore, Chunks = chunks };
            return Result(chunks);
        }
    }
}
