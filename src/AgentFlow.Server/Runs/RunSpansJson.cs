using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Tracking.MLflow.Traces;

namespace AgentFlow.Server.Runs;

/// <summary>
/// The body of <c>GET /api/runs/{id}/spans</c>: a run's trace spans as the embedded MLflow store keeps them, with the
/// attributes a timeline needs (step, worker, queue wait, model, tokens, tool) and none of the prompt or answer text,
/// which the run record already serves.
/// </summary>
internal static class RunSpansJson
{
    // The attributes worth drawing; inputs and outputs stay in the run record.
    private static readonly HashSet<string> Kept = new(StringComparer.Ordinal)
    {
        "agentflow.workflow", "agentflow.status", "agentflow.step.id", "agentflow.step.kind", "agentflow.step.attempt",
        "agentflow.step.iteration", "agentflow.worker", "agentflow.queue_wait_ms", "agentflow.model_ms",
        "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.response.finish_reasons", "gen_ai.tool.name", "agentflow.tool.status",
    };

    public static JsonObject ToJson(string runId, string traceId, IReadOnlyList<MlflowSpan> spans)
    {
        var array = new JsonArray();
        foreach (var span in spans)
        {
            var attributes = new JsonObject();
            foreach (var (key, value) in span.Attributes)
            {
                if (Kept.Contains(key))
                {
                    attributes[key] = value?.DeepClone();
                }
            }

            array.Add(new JsonObject
            {
                ["span_id"] = span.SpanId,
                ["parent_id"] = span.ParentSpanId,
                ["name"] = span.Name,
                ["type"] = span.SpanType,
                ["status"] = span.Status,
                ["status_message"] = span.StatusMessage,
                ["start"] = Time(span.StartNs),
                ["end"] = span.EndNs is { } end ? Time(end) : null,
                ["duration_ms"] = span.EndNs is { } e ? Math.Round((e - span.StartNs) / 1e6, 3) : null,
                ["attributes"] = attributes,
            });
        }

        return new JsonObject { ["run_id"] = runId, ["trace_id"] = traceId, ["spans"] = array };
    }

    private static string Time(long unixNs) =>
        DateTimeOffset.UnixEpoch.AddTicks(unixNs / 100).ToString("O", CultureInfo.InvariantCulture);
}
