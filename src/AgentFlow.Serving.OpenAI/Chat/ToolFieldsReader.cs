using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AgentFlow.Serving.OpenAI.Requests;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>
/// Reads the fields that make a chat completion agentic: <c>tools</c> (function declarations only: the endpoint never
/// runs a tool, the client does), <c>tool_choice</c>, <c>parallel_tool_calls</c> and <c>response_format</c>, into
/// <see cref="ChatOptions"/>; and the tool parts of messages (an assistant's <c>tool_calls</c>, a <c>tool</c> message's
/// result), into <see cref="FunctionCallContent"/> and <see cref="FunctionResultContent"/>.
/// </summary>
internal static partial class ToolFieldsReader
{
    /// <summary>OpenAI's limit on the tools of one request.</summary>
    public const int MaxTools = 128;

    /// <summary>Reads <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c> into <paramref name="options"/>.</summary>
    public static void ReadTools(JsonFieldReader reader, ChatOptions options)
    {
        var declarations = new List<AIFunctionDeclaration>();
        if (reader.Array(reader.Field("tools"), "tools") is { } tools)
        {
            if (tools.Count == 0)
            {
                reader.Problem("tools", "'tools' must hold at least one tool; leave it out for none");
            }

            if (tools.Count > MaxTools)
            {
                reader.Problem("tools", $"'tools' may hold at most {MaxTools} tools (got {tools.Count})");
            }

            for (var i = 0; i < tools.Count; i++)
            {
                if (ReadTool(reader, tools[i], Index("tools", i)) is { } tool)
                {
                    if (declarations.Any(d => d.Name == tool.Name))
                    {
                        reader.Problem(Index("tools", i) + ".function.name", $"'tools' declares the function '{tool.Name}' twice; function names must be unique");
                        continue;
                    }

                    declarations.Add(tool);
                }
            }
        }

        if (declarations.Count > 0)
        {
            options.Tools = [.. declarations];
        }

        // Both values are honoured: a local model answers with at most one call per turn, which is what false asks
        // for and what true permits.
        reader.Bool(reader.Field("parallel_tool_calls"), "parallel_tool_calls");
        options.ToolMode = ReadToolChoice(reader, declarations, reader.Has("tools"));
    }

    /// <summary>Reads <c>response_format</c> (text, json_object, json_schema).</summary>
    public static ChatResponseFormat? ReadResponseFormat(JsonFieldReader reader)
    {
        if (reader.Object(reader.Field("response_format"), "response_format") is not { } format)
        {
            return null;
        }

        var type = reader.String(format["type"], "response_format.type", required: true);
        switch (type)
        {
            case null:
                return null;
            case "text":
                reader.RejectUnknown(format, "response_format", "type");
                return ChatResponseFormat.Text;
            case "json_object":
                reader.RejectUnknown(format, "response_format", "type");
                return ChatResponseFormat.Json;
            case "json_schema":
                reader.RejectUnknown(format, "response_format", "type", "json_schema");
                return ReadJsonSchema(reader, format["json_schema"]);
            default:
                reader.Problem("response_format.type", $"'response_format.type' must be one of text, json_object, json_schema (got '{type}')");
                return null;
        }
    }

    /// <summary>
    /// The <c>tool_calls</c> of an assistant message as calls (the arguments string parsed into an object); null when
    /// the message has none.
    /// </summary>
    public static List<AIContent>? ReadToolCalls(JsonFieldReader reader, JsonNode? node, string param)
    {
        if (reader.Array(node, param) is not { } calls)
        {
            return null;
        }

        var contents = new List<AIContent>();
        for (var i = 0; i < calls.Count; i++)
        {
            var callParam = Index(param, i);
            if (Required(reader, calls[i], callParam) is not { } call)
            {
                continue;
            }

            reader.RejectUnknown(call, callParam, "id", "type", "function");
            var id = reader.String(call["id"], callParam + ".id", required: true);
            if (reader.String(call["type"], callParam + ".type", required: true) is { } type and not "function")
            {
                reader.Problem(callParam + ".type", $"'{callParam}.type' must be 'function' (got '{type}')");
            }

            if (Required(reader, call["function"], callParam + ".function") is not { } function)
            {
                continue;
            }

            reader.RejectUnknown(function, callParam + ".function", "name", "arguments");
            var name = reader.String(function["name"], callParam + ".function.name", required: true);
            var arguments = ReadArguments(reader, function["arguments"], callParam + ".function.arguments");
            if (id is not null && name is not null && arguments is not null)
            {
                contents.Add(new FunctionCallContent(id, name, arguments));
            }
        }

        return contents;
    }

    /// <summary>A <c>tool</c> message's result: its content, for the call <c>tool_call_id</c> names.</summary>
    public static FunctionResultContent? ReadToolResult(JsonFieldReader reader, JsonObject message, string param, string? content)
    {
        var callId = reader.String(message["tool_call_id"], param + ".tool_call_id", required: true);
        return callId is null ? null : new FunctionResultContent(callId, content ?? string.Empty);
    }

    private static AIFunctionDeclaration? ReadTool(JsonFieldReader reader, JsonNode? node, string param)
    {
        if (Required(reader, node, param) is not { } tool)
        {
            return null;
        }

        reader.RejectUnknown(tool, param, "type", "function");
        if (reader.String(tool["type"], param + ".type", required: true) is { } type and not "function")
        {
            reader.Problem(param + ".type", $"'{param}.type' is '{type}'; only 'function' tools are supported");
            return null;
        }

        if (Required(reader, tool["function"], param + ".function") is not { } function)
        {
            return null;
        }

        reader.RejectUnknown(function, param + ".function", "name", "description", "parameters", "strict");
        var name = reader.String(function["name"], param + ".function.name", required: true);
        if (name is not null && !FunctionName().IsMatch(name))
        {
            reader.Problem(param + ".function.name", $"'{param}.function.name' must be 1 to 64 letters, digits, '_' or '-' (got '{name}')");
            name = null;
        }

        var description = reader.String(function["description"], param + ".function.description");

        // Arguments are always decoded under the schema on local models, so strict: true is honoured and false is
        // stricter than asked, never looser.
        reader.Bool(function["strict"], param + ".function.strict");

        // No parameters declares a function that takes none: its arguments are the empty object.
        var parameters = reader.Object(function["parameters"], param + ".function.parameters") ?? new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() };
        return name is null ? null : AIFunctionFactory.CreateDeclaration(name, description, ToElement(parameters));
    }

    private static ChatToolMode? ReadToolChoice(JsonFieldReader reader, List<AIFunctionDeclaration> tools, bool hasTools)
    {
        var node = reader.Field("tool_choice");
        if (node is null)
        {
            return tools.Count > 0 ? ChatToolMode.Auto : null;
        }

        ChatToolMode? mode;
        string? name = null;
        if (node is JsonObject choice)
        {
            reader.RejectUnknown(choice, "tool_choice", "type", "function");
            if (reader.String(choice["type"], "tool_choice.type", required: true) is { } type and not "function")
            {
                reader.Problem("tool_choice.type", $"'tool_choice.type' must be 'function' (got '{type}')");
                return null;
            }

            if (Required(reader, choice["function"], "tool_choice.function") is not { } function)
            {
                return null;
            }

            reader.RejectUnknown(function, "tool_choice.function", "name");
            name = reader.String(function["name"], "tool_choice.function.name", required: true);
            if (name is null)
            {
                return null;
            }

            mode = ChatToolMode.RequireSpecific(name);
        }
        else
        {
            if (node.GetValueKind() != JsonValueKind.String)
            {
                reader.Problem("tool_choice", $"'tool_choice' must be 'none', 'auto', 'required' or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}, not {node.ToJsonString()}", "invalid_type");
                return null;
            }

            mode = node.GetValue<string>() switch
            {
                "none" => ChatToolMode.None,
                "auto" => ChatToolMode.Auto,
                "required" => ChatToolMode.RequireAny,
                var other => Invalid(reader, other),
            };
        }

        if (mode is RequiredChatToolMode && !hasTools)
        {
            reader.Problem("tool_choice", "'tool_choice' asks for a tool call but the request has no 'tools'");
            return null;
        }

        if (name is not null && tools.Count > 0 && tools.All(t => t.Name != name))
        {
            reader.Problem("tool_choice.function.name", $"'tool_choice' names the function '{name}', which is not in 'tools' ({string.Join(", ", tools.Select(t => t.Name))})");
            return null;
        }

        return mode;
    }

    private static ChatToolMode? Invalid(JsonFieldReader reader, string value)
    {
        reader.Problem("tool_choice", $"'tool_choice' must be 'none', 'auto', 'required' or an object naming a function (got '{value}')");
        return null;
    }

    private static ChatResponseFormatJson? ReadJsonSchema(JsonFieldReader reader, JsonNode? node)
    {
        const string Param = "response_format.json_schema";
        if (Required(reader, node, Param) is not { } spec)
        {
            return null;
        }

        reader.RejectUnknown(spec, Param, "name", "description", "schema", "strict");
        var name = reader.String(spec["name"], Param + ".name", required: true);
        if (name is not null && !FunctionName().IsMatch(name))
        {
            reader.Problem(Param + ".name", $"'{Param}.name' must be 1 to 64 letters, digits, '_' or '-' (got '{name}')");
        }

        var description = reader.String(spec["description"], Param + ".description");

        // Local models always decode under the schema (strict or not); a remote model gets it as sent.
        reader.Bool(spec["strict"], Param + ".strict");
        var schema = reader.Object(spec["schema"], Param + ".schema");
        return name is null
            ? null
            : schema is null ? ChatResponseFormat.Json : ChatResponseFormat.ForJsonSchema(ToElement(schema), name, description);
    }

    private static Dictionary<string, object?>? ReadArguments(JsonFieldReader reader, JsonNode? node, string param)
    {
        if (reader.String(node, param, required: true) is not { } text)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone(), StringComparer.Ordinal);
            }
        }
        catch (JsonException)
        {
            // Reported below, as for any other text that is not an object.
        }

        reader.Problem(param, $"'{param}' must be a JSON object written as a string, e.g. \"{{\\\"id\\\": 1}}\" (got {JsonSerializer.Serialize(Shorten(text))})");
        return null;
    }

    // An object that must be there: a problem when absent or of another type.
    private static JsonObject? Required(JsonFieldReader reader, JsonNode? node, string param)
    {
        if (node is null)
        {
            reader.Problem(param, $"'{param}' is required");
            return null;
        }

        return reader.Object(node, param);
    }

    private static JsonElement ToElement(JsonNode node)
    {
        using var document = JsonDocument.Parse(node.ToJsonString());
        return document.RootElement.Clone();
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "…";

    private static string Index(string param, int i) => string.Create(CultureInfo.InvariantCulture, $"{param}[{i}]");

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();
}
