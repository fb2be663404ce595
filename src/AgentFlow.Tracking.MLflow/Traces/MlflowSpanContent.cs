using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Traces;

/// <summary>
/// The <c>content</c> column of MLflow's <c>spans</c> table: <c>json.dumps(span.to_dict())</c> as MLflow 3.5 writes it,
/// i.e. the span's OTLP-shaped protobuf (<c>mlflow.traceserver.Span</c>) through <c>MessageToDict</c> with field names
/// kept: ids in base64, <c>trace_state</c> and (root) <c>parent_span_id</c> empty, times as integers, each attribute
/// value JSON-encoded as a string, status as <c>STATUS_CODE_*</c>.
/// </summary>
internal static class MlflowSpanContent
{
    /// <summary>The content JSON of <paramref name="span"/> in the trace whose OpenTelemetry id is <paramref name="otelTraceId"/>.</summary>
    public static string Encode(string otelTraceId, MlflowSpan span)
    {
        var content = new JsonObject
        {
            ["trace_id"] = Base64(otelTraceId),
            ["span_id"] = Base64(span.SpanId),
            ["trace_state"] = string.Empty,
            ["parent_span_id"] = span.ParentSpanId is { } parent ? Base64(parent) : string.Empty,
            ["name"] = span.Name,
            ["start_time_unix_nano"] = span.StartNs,
            ["end_time_unix_nano"] = span.EndNs,
        };
        if (span.Attributes.Count > 0)
        {
            var attributes = new JsonObject();
            foreach (var (key, value) in span.Attributes)
            {
                // MLflow keeps every attribute value as its JSON text (dump_span_attribute_value: ensure_ascii off).
                attributes[key] = PythonJson.Dumps(value, asciiOnly: false);
            }

            content["attributes"] = attributes;
        }

        if (span.Events.Count > 0)
        {
            var events = new JsonArray();
            foreach (var e in span.Events)
            {
                var attributes = new JsonObject();
                foreach (var (key, value) in e.Attributes)
                {
                    attributes[key] = value;
                }

                events.Add(new JsonObject { ["time_unix_nano"] = e.TimeNs, ["name"] = e.Name, ["attributes"] = attributes });
            }

            content["events"] = events;
        }

        var status = new JsonObject();
        if (span.StatusMessage is { } message)
        {
            status["message"] = message;
        }

        status["code"] = "STATUS_CODE_" + span.Status;
        content["status"] = status;
        return PythonJson.Dumps(content, asciiOnly: true);
    }

    private static string Base64(string hex) => Convert.ToBase64String(Convert.FromHexString(hex));
}
