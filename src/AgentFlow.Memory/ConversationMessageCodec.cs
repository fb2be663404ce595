using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AgentFlow.Memory;

/// <summary>
/// The JSON form of one message, shared by every store:
/// <c>{"v":1,"turn":"…","role":"user","content":"…","step":"…","run":"…","model":"…","ts":"2025-01-01T00:00:00.0000000+00:00"}</c>
/// (<c>step</c>, <c>run</c>, <c>model</c> omitted when null). The sequence is not stored: it is the message's position.
/// </summary>
internal static class ConversationMessageCodec
{
    public const int Version = 1;

    public static string Serialize(ConversationMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (message.Content.Length * 2));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", Version);
            writer.WriteString("turn", message.TurnId);
            writer.WriteString("role", RoleName(message.Role));
            writer.WriteString("content", message.Content);
            WriteOptional(writer, "step", message.StepId);
            WriteOptional(writer, "run", message.RunId);
            WriteOptional(writer, "model", message.Model);
            writer.WriteString("ts", message.Timestamp.ToString("O", CultureInfo.InvariantCulture));
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads one stored message.</summary>
    /// <param name="json">The stored text (null when the store returned nothing).</param>
    /// <param name="sequence">The message's 1-based position.</param>
    /// <param name="key">The key, for the error.</param>
    /// <param name="where">Where the entry is (e.g. <c>Redis key 'agentflow:conv:x', list index 3</c>), for the error.</param>
    /// <exception cref="MemoryStoreException">The entry is not a message of this format.</exception>
    public static ConversationMessage Deserialize(string? json, long sequence, string key, string where)
    {
        if (string.IsNullOrEmpty(json))
        {
            throw Corrupt(key, where, "the entry is empty", null);
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Corrupt(key, where, $"expected a JSON object, found {root.ValueKind}", null);
            }

            if (!root.TryGetProperty("v", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var v))
            {
                throw Corrupt(key, where, "the format version 'v' is missing", null);
            }

            if (v != Version)
            {
                throw Corrupt(key, where, $"format version {v} is not known (this AgentFlow reads version {Version})", null);
            }

            var roleName = RequiredString(root, "role", key, where);
            var role = roleName switch
            {
                "user" => ConversationRole.User,
                "assistant" => ConversationRole.Assistant,
                _ => throw Corrupt(key, where, $"unknown role '{roleName}'", null),
            };
            var timestampText = RequiredString(root, "ts", key, where);
            if (!DateTimeOffset.TryParseExact(timestampText, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var timestamp))
            {
                throw Corrupt(key, where, $"timestamp '{timestampText}' is not ISO 8601", null);
            }

            return new ConversationMessage
            {
                Role = role,
                Content = RequiredString(root, "content", key, where),
                TurnId = RequiredString(root, "turn", key, where),
                StepId = OptionalString(root, "step", key, where),
                RunId = OptionalString(root, "run", key, where),
                Model = OptionalString(root, "model", key, where),
                Timestamp = timestamp,
                Sequence = sequence,
            };
        }
        catch (JsonException e)
        {
            throw Corrupt(key, where, "it is not valid JSON (" + e.Message + ")", e);
        }
    }

    public static string RoleName(ConversationRole role) => role switch
    {
        ConversationRole.User => "user",
        ConversationRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown conversation role."),
    };

    private static void WriteOptional(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static string RequiredString(JsonElement root, string name, string key, string where) =>
        OptionalString(root, name, key, where) ?? throw Corrupt(key, where, $"'{name}' is missing", null);

    private static string? OptionalString(JsonElement root, string name, string key, string where)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw Corrupt(key, where, $"'{name}' is a {value.ValueKind}, not a string", null);
    }

    private static MemoryStoreException Corrupt(string key, string where, string reason, Exception? inner) =>
        new($"Corrupt conversation entry at {where}: {reason}. Clearing the conversation removes it.", key, inner);
}
