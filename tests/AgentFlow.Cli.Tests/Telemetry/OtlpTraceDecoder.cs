using Google.Protobuf;

namespace AgentFlow.Cli.Tests.Telemetry;

/// <summary>A span of an OTLP export, as decoded from the protobuf body.</summary>
internal sealed record OtlpSpan(
    string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, ulong StartNs, ulong EndNs,
    IReadOnlyDictionary<string, object?> Attributes, int StatusCode, string StatusMessage, IReadOnlyList<string> Events, string Scope);

/// <summary>
/// Reads an OTLP/HTTP <c>ExportTraceServiceRequest</c> with Google.Protobuf's wire reader and the field numbers of the
/// OpenTelemetry protocol definitions (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto,
/// resource/v1/resource.proto); no OTLP proto package is served here, so the messages are walked by hand.
/// </summary>
internal static class OtlpTraceDecoder
{
    /// <summary>The resource attributes and spans of every ResourceSpans in <paramref name="body"/>.</summary>
    public static (IReadOnlyDictionary<string, object?> Resource, IReadOnlyList<OtlpSpan> Spans) Decode(byte[] body)
    {
        var resource = new Dictionary<string, object?>(StringComparer.Ordinal);
        var spans = new List<OtlpSpan>();
        foreach (var resourceSpans in Fields(ByteString.CopyFrom(body), 1))
        {
            foreach (var r in Fields(resourceSpans, 1))
            {
                foreach (var kv in Fields(r, 1))
                {
                    var (key, value) = KeyValue(kv);
                    resource[key] = value;
                }
            }

            foreach (var scopeSpans in Fields(resourceSpans, 2))
            {
                var scope = Fields(scopeSpans, 1).Select(s => Strings(s, 1).FirstOrDefault() ?? string.Empty).FirstOrDefault() ?? string.Empty;
                spans.AddRange(Fields(scopeSpans, 2).Select(s => Span(s, scope)));
            }
        }

        return (resource, spans);
    }

    private static OtlpSpan Span(ByteString span, string scope)
    {
        string trace = string.Empty, id = string.Empty, parent = string.Empty, name = string.Empty, statusMessage = string.Empty;
        int kind = 0, statusCode = 0;
        ulong start = 0, end = 0;
        var attributes = new Dictionary<string, object?>(StringComparer.Ordinal);
        var events = new List<string>();
        var input = span.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: trace = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 2: id = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 4: parent = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 5: name = input.ReadString(); break;
                case 6: kind = input.ReadEnum(); break;
                case 7: start = input.ReadFixed64(); break;
                case 8: end = input.ReadFixed64(); break;
                case 9:
                    var (key, value) = KeyValue(input.ReadBytes());
                    attributes[key] = value;
                    break;
                case 11: events.Add(Strings(input.ReadBytes(), 2).FirstOrDefault() ?? string.Empty); break;
                case 15:
                    var status = input.ReadBytes().CreateCodedInput();
                    uint statusTag;
                    while ((statusTag = status.ReadTag()) != 0)
                    {
                        switch (WireFormat.GetTagFieldNumber(statusTag))
                        {
                            case 2: statusMessage = status.ReadString(); break;
                            case 3: statusCode = status.ReadEnum(); break;
                            default: status.SkipLastField(); break;
                        }
                    }

                    break;
                default: input.SkipLastField(); break;
            }
        }

        return new(trace, id, parent, name, kind, start, end, attributes, statusCode, statusMessage, events, scope);
    }

    // KeyValue { string key = 1; AnyValue value = 2; }
    private static (string Key, object? Value) KeyValue(ByteString kv)
    {
        var key = string.Empty;
        object? value = null;
        var input = kv.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == 1)
            {
                key = input.ReadString();
            }
            else if (WireFormat.GetTagFieldNumber(tag) == 2)
            {
                value = AnyValue(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }

        return (key, value);
    }

    // AnyValue { oneof: string_value = 1; bool_value = 2; int_value = 3; double_value = 4; array_value = 5; ... }
    private static object? AnyValue(ByteString any)
    {
        var input = any.CreateCodedInput();
        var tag = input.ReadTag();
        return WireFormat.GetTagFieldNumber(tag) switch
        {
            1 => input.ReadString(),
            2 => input.ReadBool(),
            3 => input.ReadInt64(),
            4 => input.ReadDouble(),
            5 => Fields(input.ReadBytes(), 1).Select(AnyValue).ToArray(),
            _ => null,
        };
    }

    private static IEnumerable<string> Strings(ByteString message, int field) => Fields(message, field).Select(b => b.ToStringUtf8());

    // The length-delimited fields numbered 'field' of a message, in order.
    private static List<ByteString> Fields(ByteString message, int field)
    {
        var found = new List<ByteString>();
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == field && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                found.Add(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }

        return found;
    }
}
