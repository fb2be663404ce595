using System.Text.Json;
using AgentFlow.Messaging.Contracts;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Tools;

/// <summary>
/// Tool calling over the bus, in Microsoft.Extensions.AI's terms on both ends: the orchestrator sends the tools'
/// declarations and the tool rounds so far (<see cref="FunctionCallContent"/>, <see cref="FunctionResultContent"/>);
/// the worker only generates and answers the calls its model made. Tools always run on the orchestrator.
/// </summary>
internal static class ToolWire
{
    public static ChatStepMessage ToWire(ChatMessage message)
    {
        var calls = message.Contents.OfType<FunctionCallContent>().Select(ToWire).ToList();
        var results = message.Contents.OfType<FunctionResultContent>().Select(r => new ChatStepToolResult(r.CallId, ResultText(r.Result))).ToList();
        return new ChatStepMessage(message.Role.Value, message.Text)
        {
            ToolCalls = calls.Count == 0 ? null : calls,
            ToolResults = results.Count == 0 ? null : results,
        };
    }

    public static ChatMessage FromWire(ChatStepMessage message)
    {
        var contents = new List<AIContent>();
        if (message.Text.Length > 0)
        {
            contents.Add(new TextContent(message.Text));
        }

        contents.AddRange((message.ToolCalls ?? []).Select(FromWire));
        contents.AddRange((message.ToolResults ?? []).Select(r => new FunctionResultContent(r.CallId, r.Result)));
        return new ChatMessage(new ChatRole(message.Role), contents);
    }

    public static ChatStepToolCall ToWire(FunctionCallContent call) =>
        new(call.CallId, call.Name, JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions));

    public static FunctionCallContent FromWire(ChatStepToolCall call) =>
        new(call.CallId, call.Name, JsonSerializer.Deserialize<Dictionary<string, object?>>(call.Arguments, AIJsonUtilities.DefaultOptions));

    /// <summary>The declarations and mode of <paramref name="options"/>, for the request.</summary>
    public static (IReadOnlyList<ChatStepTool>? Tools, string? Mode) ToWire(ChatOptions? options)
    {
        var tools = options?.Tools?.OfType<AIFunctionDeclaration>().Select(t => new ChatStepTool(t.Name, t.Description, t.JsonSchema.GetRawText())).ToList();
        var mode = options?.ToolMode switch
        {
            null => null,
            NoneChatToolMode => "none",
            AutoChatToolMode => "auto",
            RequiredChatToolMode { RequiredFunctionName: { } name } => "tool:" + name,
            RequiredChatToolMode => "required",
            _ => null,
        };
        return (tools is { Count: > 0 } ? tools : null, mode);
    }

    /// <summary>Declarations (never invocable here) and the mode, on the worker's options.</summary>
    public static void Apply(ChatStepRequest request, ChatOptions options)
    {
        if (request.Tools is { Count: > 0 } tools)
        {
            options.Tools = [.. tools.Select(t => AIFunctionFactory.CreateDeclaration(t.Name, t.Description, JsonDocument.Parse(t.ParametersSchema).RootElement.Clone()))];
        }

        options.ToolMode = request.ToolMode switch
        {
            "none" => ChatToolMode.None,
            "auto" => ChatToolMode.Auto,
            "required" => ChatToolMode.RequireAny,
            { } mode when mode.StartsWith("tool:", StringComparison.Ordinal) => ChatToolMode.RequireSpecific(mode["tool:".Length..]),
            _ => null,
        };
    }

    private static string ResultText(object? result) => result switch
    {
        null => string.Empty,
        string s => s,
        JsonElement e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? string.Empty : e.GetRawText(),
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions),
    };
}
