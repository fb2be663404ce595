using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// Strict reading of the record's JSON files (transcript, audit chain, seal, ledger lines): a duplicate key, a value
/// of the wrong type or a truncated file is an <see cref="UnreadableRecordException"/> naming the file, never a
/// <see cref="JsonException"/> or <see cref="InvalidOperationException"/> escaping as an internal error.
/// </summary>
internal static class RecordJson
{
    // Duplicate keys are refused: with them, two readers could see two different values for one field.
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 256 };

    /// <summary>Parses <paramref name="text"/> as one JSON object.</summary>
    public static JsonObject ParseObject(string text, string file)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: Strict);
        }
        catch (JsonException ex)
        {
            throw new UnreadableRecordException(file, ex.Message);
        }

        return node as JsonObject ?? throw new UnreadableRecordException(file, "the file is not a JSON object");
    }

    /// <summary>The string at <paramref name="name"/>; a missing or non-string value is unreadable.</summary>
    public static string String(JsonObject obj, string name, string file) =>
        OptionalString(obj, name, file) ?? throw new UnreadableRecordException(file, $"'{name}' is missing");

    /// <summary>The string at <paramref name="name"/>, or null when absent or null; any other type is unreadable.</summary>
    public static string? OptionalString(JsonObject obj, string name, string file) => obj[name] switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        _ => throw new UnreadableRecordException(file, $"'{name}' must be a string"),
    };

    /// <summary>The whole number at <paramref name="name"/>.</summary>
    public static long Integer(JsonObject obj, string name, string file) =>
        obj[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var number)
            ? number
            : throw new UnreadableRecordException(file, $"'{name}' must be a whole number");

    /// <summary>The whole number at <paramref name="name"/>, or null when absent or null.</summary>
    public static long? OptionalInteger(JsonObject obj, string name, string file) => obj[name] is null ? null : Integer(obj, name, file);

    /// <summary>The object at <paramref name="name"/>.</summary>
    public static JsonObject Object(JsonObject obj, string name, string file) =>
        obj[name] as JsonObject ?? throw new UnreadableRecordException(file, $"'{name}' must be an object");

    /// <summary>The array at <paramref name="name"/>; each item must be an object.</summary>
    public static IReadOnlyList<JsonObject> Objects(JsonObject obj, string name, string file)
    {
        if (obj[name] is not JsonArray array)
        {
            throw new UnreadableRecordException(file, $"'{name}' must be an array");
        }

        var items = new List<JsonObject>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            items.Add(array[i] as JsonObject ?? throw new UnreadableRecordException(file, $"'{name}[{i}]' must be an object"));
        }

        return items;
    }

    /// <summary>A string-to-string map at <paramref name="name"/>.</summary>
    public static IReadOnlyDictionary<string, string> StringMap(JsonObject obj, string name, string file)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var inner = Object(obj, name, file);
        foreach (var (key, _) in inner)
        {
            map[key] = String(inner, key, $"{file} '{name}'");
        }

        return map;
    }

    /// <summary>
    /// The canonical text of a node read back from a file: compact JSON. Hashes and signatures are always computed
    /// over a parsed node's canonical text (when writing too), so the writer's formatting never matters.
    /// </summary>
    public static string Canonical(JsonNode? node) => node?.ToJsonString() ?? "null";

    /// <summary>Lowercase hex SHA-256 of <paramref name="text"/> as UTF-8.</summary>
    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Lowercase hex SHA-256 of <paramref name="bytes"/>.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>A record file is not readable as what it should be (truncated, duplicate keys, wrong types).</summary>
internal sealed class UnreadableRecordException(string file, string detail) : Exception($"{file}: {detail}")
{
    /// <summary>The file (or ledger line) that could not be read.</summary>
    public string File { get; } = file;
}
