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

    /// <summary>
    /// The attributes (each value parsed from its JSON text), status message and events of a stored span's content,
    /// as <see cref="Encode"/> writes it (and MLflow's <c>Span.from_dict</c> reads it).
    /// </summary>
    public static (IReadOnlyList<KeyValuePair<string, JsonNode?>> Attributes, string? StatusMessage, IReadOnlyList<MlflowSpanEvent> Events) Decode(string content)
    {
        var node = JsonNode.Parse(content) as JsonObject ?? throw new MlflowException(MlflowErrorCodes.InternalError, "a span's content is not a JSON object");
        var attributes = new List<KeyValuePair<string, JsonNode?>>();
        if (node["attributes"] is JsonObject stored)
        {
            foreach (var (key, value) in stored)
            {
                attributes.Add(new(key, value is JsonValue text && text.TryGetValue<string>(out var json) ? ParseOrText(json) : value?.DeepClone()));
            }
        }

        var events = new List<MlflowSpanEvent>();
        if (node["events"] is JsonArray array)
        {
            foreach (var e in array.OfType<JsonObject>())
            {
                var eventAttributes = e["attributes"] is JsonObject a
                    ? a.Select(kv => KeyValuePair.Create(kv.Key, kv.Value is JsonValue v && v.TryGetValue<string>(out var t) ? t : kv.Value?.ToJsonString() ?? string.Empty)).ToList()
                    : [];
                events.Add(new MlflowSpanEvent(
                    e["name"]?.GetValue<string>() ?? string.Empty,
                    e["time_unix_nano"] is JsonValue time && time.TryGetValue<long>(out var ns) ? ns : 0,
                    eventAttributes));
            }
        }

        var message = node["status"]?["message"] is JsonValue m && m.TryGetValue<string>(out var s) ? s : null;
        return (attributes, message, events);
    }

    // Attribute values written by another client may be plain strings rather than JSON text: keep those as they are.
    private static JsonNode? ParseOrText(string json)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (System.Text.Json.JsonException)
        {
            return JsonValue.Create(json);
        }
    }

    private static string Base64(string hex) => Convert.ToBase64String(Convert.FromHexString(hex));
}
