using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Serving.OpenAI.Errors;

namespace AgentFlow.Serving.OpenAI.Requests;

/// <summary>
/// Reads the fields of a request body with their types checked, collecting a problem per bad field (named by its
/// path, e.g. <c>messages[2].content</c>) instead of throwing at the first. JSON <c>null</c> counts as absent, as
/// OpenAI treats it. Every top-level field a reader reads is remembered, so that <see cref="RejectUnread"/> can refuse
/// the fields nothing reads: a field the endpoint does not know is refused, never silently ignored.
/// </summary>
internal sealed class JsonFieldReader(JsonObject body)
{
    private readonly List<OpenAIError> _problems = [];
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <summary>The problems found so far, in the order the fields were read.</summary>
    public IReadOnlyList<OpenAIError> Problems => _problems;

    /// <summary>Records a problem with a field.</summary>
    public void Problem(string param, string message, string? code = null) => _problems.Add(OpenAIError.InvalidRequest(message, param, code));

    /// <summary>A top-level field, marked as read.</summary>
    public JsonNode? Field(string name)
    {
        _read.Add(name);
        return body[name];
    }

    /// <summary>Whether the body has the top-level field with a non-null value (marks it read).</summary>
    public bool Has(string name) => Field(name) is not null;

    /// <summary>A string, or null when absent (a problem when <paramref name="required"/>).</summary>
    public string? String(JsonNode? node, string param, bool required = false)
    {
        if (node is null)
        {
            if (required)
            {
                Problem(param, $"'{param}' is required");
            }

            return null;
        }

        if (Kind(node) == JsonValueKind.String)
        {
            return node.GetValue<string>();
        }

        WrongType(param, "a string", node);
        return null;
    }

    /// <summary>A boolean, or null when absent.</summary>
    public bool? Bool(JsonNode? node, string param)
    {
        switch (Kind(node))
        {
            case null:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                WrongType(param, "a boolean", node!);
                return null;
        }
    }

    /// <summary>An integer within [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public long? Integer(JsonNode? node, string param, long min = long.MinValue, long max = long.MaxValue)
    {
        if (node is null)
        {
            return null;
        }

        if (Kind(node) != JsonValueKind.Number || !node.AsValue().TryGetValue(out long value))
        {
            WrongType(param, "an integer", node);
            return null;
        }

        return InRange(param, value, min, max) ? value : null;
    }

    /// <summary>A number within [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public double? Number(JsonNode? node, string param, double min, double max)
    {
        if (node is null)
        {
            return null;
        }

        if (Kind(node) != JsonValueKind.Number || !node.AsValue().TryGetValue(out double value))
        {
            WrongType(param, "a number", node);
            return null;
        }

        return InRange(param, value, min, max) ? value : null;
    }

    /// <summary>An array, or null when absent (a problem when <paramref name="required"/>).</summary>
    public JsonArray? Array(JsonNode? node, string param, bool required = false)
    {
        if (node is JsonArray array)
        {
            return array;
        }

        if (node is null)
        {
            if (required)
            {
                Problem(param, $"'{param}' is required");
            }

            return null;
        }

        WrongType(param, "an array", node);
        return null;
    }

    /// <summary>An object, or null when absent.</summary>
    public JsonObject? Object(JsonNode? node, string param)
    {
        if (node is null or JsonObject)
        {
            return node as JsonObject;
        }

        WrongType(param, "an object", node);
        return null;
    }

    /// <summary>Refuses the fields of <paramref name="value"/> other than <paramref name="known"/> (for nested objects).</summary>
    public void RejectUnknown(JsonObject value, string param, params string[] known)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var (name, _) in value)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                Problem($"{param}.{name}", $"Unrecognized request argument supplied: {param}.{name}");
            }
        }
    }

    /// <summary>Refuses every top-level field no read asked for (OpenAI's message for it).</summary>
    public void RejectUnread()
    {
        foreach (var (name, _) in body)
        {
            if (!_read.Contains(name))
            {
                Problem(name, $"Unrecognized request argument supplied: {name}");
            }
        }
    }

    // Bounds are small numbers (or long.MaxValue for "no upper bound"), so comparing as doubles is exact enough.
    private bool InRange(string param, double value, double min, double max)
    {
        if (value >= min && value <= max)
        {
            return true;
        }

        var range = max >= long.MaxValue ? $"at least {Format(min)}" : $"between {Format(min)} and {Format(max)}";
        Problem(param, $"'{param}' must be {range} (got {Format(value)})");
        return false;
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    private void WrongType(string param, string expected, JsonNode node) =>
        Problem(param, $"'{param}' must be {expected}, not {Describe(node)}", "invalid_type");

    private static JsonValueKind? Kind(JsonNode? node) => node?.GetValueKind();

    private static string Describe(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.String => $"the string {node.ToJsonString()}",
        JsonValueKind.Number => $"the number {node.ToJsonString()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {node.ToJsonString()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => node.ToJsonString(),
    };
}
