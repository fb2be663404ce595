using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Retrieval;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// Runs a retrieve step: renders the query, searches the collection, records the chunks (ids, sources, scores, text)
/// and outputs them: as text in <see cref="RetrievalFormat"/> and as <c>steps.ID.chunks</c> for Liquid loops. A
/// replay returns the recorded chunks instead of searching.
/// </summary>
internal sealed class RetrieveStepExecutor(RetrieveStepDefinition step, string? loopId, RunContext run)
    : Executor<FlowState, FlowState>(step.Id)
{
    /// <summary>The field templates loop over.</summary>
    public const string ChunksField = "chunks";

    private readonly LiquidTemplate _query = LiquidTemplate.Compile(step.Query);

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var query = (await _query.RenderAsync(run.Scope(message, loopId), cancellationToken).ConfigureAwait(false)).Trim();
        var iteration = RunContext.IterationOf(message, loopId);
        IReadOnlyList<RetrievedChunk>? recorded = null;
        var replayed = run.Replay is { } replay && replay.Retrievals.TryGetValue(new ReplayKey(step.Id, iteration), out recorded);
        var record = new StepRecord
        {
            Id = step.Id,
            Kind = "retrieve",
            Iteration = iteration,
            Started = run.Time.GetUtcNow(),
            Prompt = query,
            ReplayedFrom = replayed ? run.Replay!.FromRunId : null,
            Detail = replayed ? $"replayed from run {run.Replay!.FromRunId}" : null,
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(run.RunId, record), cancellationToken).ConfigureAwait(false);
        var started = run.Time.GetTimestamp();
        IReadOnlyList<RetrievedChunk> chunks;
        try
        {
            chunks = replayed ? recorded! : await SearchAsync(query, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AgentFlowException or HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            record.LatencyMs = run.Time.GetElapsedTime(started).TotalMilliseconds;
            record.Status = StepStatus.Failed;
            record.Error = ex.Message;
            await RunContext.EmitAsync(context, new StepFinishedEvent(run.RunId, record), cancellationToken).ConfigureAwait(false);
            throw new StepFailedException(step.Id, ex.Message);
        }

        var text = RetrievalFormat.Render(chunks);
        record.LatencyMs = run.Time.GetElapsedTime(started).TotalMilliseconds;
        record.Retrieval = new RetrievalRecord { Collection = step.Collection, Query = query, TopK = step.TopK, MinScore = step.MinScore, Chunks = chunks };
        record.Output = text;
        record.Status = StepStatus.Succeeded;
        await RunContext.EmitAsync(context, new StepFinishedEvent(run.RunId, record), cancellationToken).ConfigureAwait(false);
        var output = StepOutput.OfText(text) with
        {
            Fields = new Dictionary<string, object?>(StringComparer.Ordinal) { [ChunksField] = ToJson(chunks) },
        };
        return message.WithOutput(step.Id, output);
    }

    private async Task<IReadOnlyList<RetrievedChunk>> SearchAsync(string query, CancellationToken cancellationToken)
    {
        if (query.Length == 0)
        {
            throw new AgentFlowException($"the query of retrieve step '{step.Id}' rendered empty ({step.Query.Location}); pass the inputs it names");
        }

        var retriever = run.Retriever ?? throw new AgentFlowException($"retrieve step '{step.Id}' needs a retriever, and this host has none");
        return await retriever.RetrieveAsync(step.Collection, query, step.TopK, step.MinScore, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The chunks as templates see them: <c>text</c>, <c>source</c>, <c>heading</c>, <c>score</c> (2 decimals) and <c>id</c>.</summary>
    internal static JsonArray ToJson(IReadOnlyList<RetrievedChunk> chunks)
    {
        var array = new JsonArray();
        foreach (var chunk in chunks)
        {
            array.Add(new JsonObject
            {
                ["id"] = chunk.Id,
                ["text"] = chunk.Text,
                ["source"] = chunk.Source,
                ["heading"] = chunk.Heading,
                ["score"] = Math.Round(chunk.Score, 2),
            });
        }

        return array;
    }
}
