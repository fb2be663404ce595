using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Traces;

/// <summary>
/// JSON text as Python's <c>json.dumps</c> writes it with default separators (<c>", "</c> and <c>": "</c>), which is
/// how MLflow encodes span attributes and span content: byte-for-byte the same rows MLflow itself would store.
/// </summary>
internal static class PythonJson
{
    /// <summary><c>json.dumps(value)</c>; <paramref name="asciiOnly"/> is Python's <c>ensure_ascii</c>.</summary>
    public static string Dumps(JsonNode? value, bool asciiOnly)
    {
        var text = new StringBuilder();
        Write(text, value, asciiOnly);
        return text.ToString();
    }

    private static void Write(StringBuilder text, JsonNode? value, bool asciiOnly)
    {
        switch (value)
        {
            case null:
                text.Append("null");
                break;
            case JsonObject obj:
                text.Append('{');
                var first = true;
                foreach (var (key, item) in obj)
                {
                    text.Append(first ? string.Empty : ", ");
                    first = false;
                    String(text, key, asciiOnly);
                    text.Append(": ");
                    Write(text, item, asciiOnly);
                }

                text.Append('}');
                break;
            case JsonArray array:
                text.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    text.Append(i == 0 ? string.Empty : ", ");
                    Write(text, array[i], asciiOnly);
                }

                text.Append(']');
                break;
            default:
                Scalar(text, value.AsValue(), asciiOnly);
                break;
        }
    }

    private static void Scalar(StringBuilder text, JsonValue value, bool asciiOnly)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                String(text, value.GetValue<string>(), asciiOnly);
                break;
            case JsonValueKind.True:
                text.Append("true");
                break;
            case JsonValueKind.False:
                text.Append("false");
                break;
            case JsonValueKind.Null:
                text.Append("null");
                break;
            default:
                text.Append(Number(value));
                break;
        }
    }

    // Integers as digits; floats as Python's repr (shortest round trip, "2.0", "1e-05").
    private static string Number(JsonValue value)
    {
        if (value.TryGetValue<long>(out var whole))
        {
            return whole.ToString(CultureInfo.InvariantCulture);
        }

        if (value.TryGetValue<int>(out var small))
        {
            return small.ToString(CultureInfo.InvariantCulture);
        }

        var number = value.TryGetValue<double>(out var d) ? d : value.TryGetValue<float>(out var f) ? f : (double)value.GetValue<decimal>();
        if (double.IsNaN(number))
        {
            return "NaN";
        }

        if (double.IsInfinity(number))
        {
            return number > 0 ? "Infinity" : "-Infinity";
        }

        var text = number.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text.Contains('.', StringComparison.Ordinal) ? text : text + ".0";
        }

        var exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture, $"{text[..e]}e{(exponent < 0 ? '-' : '+')}{Math.Abs(exponent):00}");
    }

    private static void String(StringBuilder text, string value, bool asciiOnly)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    text.Append("\\\"");
                    break;
                case '\\':
                    text.Append("\\\\");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '\r':
                    text.Append("\\r");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                case '\b':
                    text.Append("\\b");
                    break;
                case '\f':
                    text.Append("\\f");
                    break;
                default:
                    // UTF-16 code units are what Python escapes too (a surrogate pair as two \u escapes).
                    if (c < 0x20 || (asciiOnly && c > 0x7f))
                    {
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        text.Append('"');
    }
}
