using System.Text.Json;

namespace AgentFlow.Tracking.MLflow.Rest;

/// <summary>
/// Splits one logical batch into <c>runs/log-batch</c> requests within MLflow's limits: ≤ 100 params, ≤ 100 tags,
/// ≤ 1000 metrics, ≤ 1000 entries in all and ≤ 1 MB of JSON. Like MLflow's Python client, params and tags go first
/// and metrics fill the room left in each request; the remaining metrics follow in requests of their own.
/// </summary>
internal static class LogBatchSplitter
{
    public static List<LogBatchRequest> Split(
        string runId,
        IReadOnlyList<MlflowMetric> metrics,
        IReadOnlyList<MlflowParam> parameters,
        IReadOnlyList<MlflowTag> tags,
        int maxRequestBytes = MlflowLimits.MaxBatchRequestBytes)
    {
        var context = MlflowJson.Context;
        var envelope = JsonSerializer.SerializeToUtf8Bytes(
            new LogBatchRequest { RunId = runId, Metrics = [], Params = [], Tags = [] }, context.LogBatchRequest).Length;

        var requests = new List<LogBatchRequest>();
        int p = 0, t = 0, m = 0;
        while (p < parameters.Count || t < tags.Count || m < metrics.Count)
        {
            var batchParams = new List<WireKeyValue>();
            var batchTags = new List<WireKeyValue>();
            var batchMetrics = new List<WireMetric>();
            long bytes = envelope;

            bool Fits(int itemBytes)
            {
                // +1 for the comma separating it from the previous element.
                if (bytes + itemBytes + 1 > maxRequestBytes)
                {
                    return false;
                }

                bytes += itemBytes + 1;
                return true;
            }

            int Count() => batchParams.Count + batchTags.Count + batchMetrics.Count;

            while (p < parameters.Count && batchParams.Count < MlflowLimits.MaxParamsPerBatch && Count() < MlflowLimits.MaxEntitiesPerBatch)
            {
                var wire = new WireKeyValue { Key = parameters[p].Key, Value = parameters[p].Value };
                if (!Fits(JsonSerializer.SerializeToUtf8Bytes(wire, context.WireKeyValue).Length))
                {
                    break;
                }

                batchParams.Add(wire);
                p++;
            }

            while (t < tags.Count && batchTags.Count < MlflowLimits.MaxTagsPerBatch && Count() < MlflowLimits.MaxEntitiesPerBatch)
            {
                var wire = new WireKeyValue { Key = tags[t].Key, Value = tags[t].Value };
                if (!Fits(JsonSerializer.SerializeToUtf8Bytes(wire, context.WireKeyValue).Length))
                {
                    break;
                }

                batchTags.Add(wire);
                t++;
            }

            while (m < metrics.Count && batchMetrics.Count < MlflowLimits.MaxMetricsPerBatch && Count() < MlflowLimits.MaxEntitiesPerBatch)
            {
                var metric = metrics[m];
                var wire = new WireMetric { Key = metric.Key, Value = metric.Value, Timestamp = metric.Timestamp, Step = metric.Step };
                if (!Fits(JsonSerializer.SerializeToUtf8Bytes(wire, context.WireMetric).Length))
                {
                    break;
                }

                batchMetrics.Add(wire);
                m++;
            }

            if (Count() == 0)
            {
                throw new MlflowValidationException(
                    $"One metric, param or tag of run {runId} does not fit in a {maxRequestBytes}-byte log-batch request.");
            }

            requests.Add(new LogBatchRequest
            {
                RunId = runId,
                Metrics = batchMetrics.Count > 0 ? batchMetrics : null,
                Params = batchParams.Count > 0 ? batchParams : null,
                Tags = batchTags.Count > 0 ? batchTags : null,
            });
        }

        return requests;
    }
}
