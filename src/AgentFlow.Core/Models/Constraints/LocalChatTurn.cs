using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Constraints;

/// <summary>
/// One request to a model that runs in this process, as the llama.cpp and ONNX Runtime GenAI clients both see it:
/// the chat messages as plain role/text pairs (tools listed in the system message, tool calls and results written
/// out), the grammar the answer is decoded under (from <see cref="ChatOptions.Tools"/>, <see cref="ChatOptions.ToolMode"/>
/// and <see cref="ChatOptions.ResponseFormat"/>), and the reading of the answer back into
/// <see cref="FunctionCallContent"/> or text.
/// <para>
/// Tool format: the Hermes / Qwen2.5 one (the format those models' own chat templates write; llama.cpp's template
/// engine cannot run a GGUF's Jinja tool section): the tools' signatures as JSON lines inside <c>&lt;tools&gt;</c> in
/// the system message, a call as <c>&lt;tool_call&gt;\n{"name":…,"arguments":{…}}\n&lt;/tool_call&gt;</c>, a result
/// as a user message <c>&lt;tool_response&gt;\n…\n&lt;/tool_response&gt;</c>. One call per answer.
/// </para>
/// <para>
/// Tool modes: <c>RequireAny</c> / <c>RequireSpecific</c> decode under the grammar of a call (of any tool / of that
/// one) with arguments following the tool's JSON Schema; <c>Auto</c> (the default with tools) under "a call, or an
/// answer that does not start with <c>&lt;tool_call&gt;</c>" (free text, or the response format's JSON); <c>None</c>
/// lists no tools. A response format of JSON decodes under its schema (any JSON object without one).
/// </para>
/// </summary>
public sealed class LocalChatTurn
{
    /// <summary>What opens a tool call in the answer.</summary>
    public const string CallOpen = "<tool_call>";

    /// <summary>What closes a tool call.</summary>
    public const string CallClose = "</tool_call>";

    // M.E.AI's serializer settings (they know its content types), written compactly as the grammar writes calls.
    private static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    private readonly GrammarNode? _grammar;
    private ByteAutomaton? _automaton;

    private LocalChatTurn(IReadOnlyList<(string Role, string Content)> messages, GrammarNode? grammar, bool mayCall, bool mustCall, bool freeText, IList<string>? stops)
    {
        Messages = messages;
        _grammar = grammar;
        MayCall = mayCall;
        MustCall = mustCall;
        StopSequences = freeText ? stops : null;
    }

    /// <summary>The chat as role/text pairs, in order, for the model's chat template.</summary>
    public IReadOnlyList<(string Role, string Content)> Messages { get; }

    /// <summary>Whether the answer may be a tool call.</summary>
    public bool MayCall { get; }

    /// <summary>Whether the answer must be a tool call.</summary>
    public bool MustCall { get; }

    /// <summary>Whether the answer is decoded under a grammar.</summary>
    public bool IsConstrained => _grammar is not null;

    /// <summary>
    /// The stop sequences that apply: none when the answer must be JSON or a call (a stop sequence would cut it
    /// short), else the request's.
    /// </summary>
    public IList<string>? StopSequences { get; }

    /// <summary>Reads the request.</summary>
    /// <exception cref="UnsupportedSchemaException">A tool's or the response format's JSON Schema cannot be followed.</exception>
    /// <exception cref="ArgumentException">A required tool is not among the tools, or a tool is not a function.</exception>
    public static LocalChatTurn Create(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var mode = options?.ToolMode ?? ChatToolMode.Auto;
        var tools = mode is NoneChatToolMode ? [] : Functions(options?.Tools);
        var answer = Answer(options?.ResponseFormat);
        var required = mode as RequiredChatToolMode;
        if (tools.Count == 0 && required is not null)
        {
            throw new ArgumentException("ChatOptions.ToolMode requires a tool call but ChatOptions.Tools has no function", nameof(options));
        }

        GrammarNode? grammar = answer;
        var freeText = answer is null;
        if (tools.Count > 0)
        {
            var callable = required?.RequiredFunctionName is { } name
                ? [tools.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"ChatOptions.ToolMode requires tool '{name}', which is not in ChatOptions.Tools", nameof(options))]
                : tools;
            var calls = GrammarNode.Choice(callable.Select(Call));
            grammar = required is not null
                ? calls
                : GrammarNode.Choice(calls, answer ?? GrammarNode.TextNotStartingWith(CallOpen));
            freeText = required is null && answer is null;
        }

        return new LocalChatTurn(Render(messages, options?.Instructions, tools), grammar, tools.Count > 0, required is not null, freeText, options?.StopSequences);
    }

    /// <summary>The constraint for one generation of at most <paramref name="maxTokens"/> tokens, or null when unconstrained.</summary>
    /// <exception cref="AgentFlowException">The grammar cannot be completed within <paramref name="maxTokens"/>, or is too large.</exception>
    public TokenConstraint? CreateConstraint(TokenVocabulary vocabulary, int maxTokens)
    {
        if (_grammar is null)
        {
            return null;
        }

        _automaton ??= ByteAutomaton.Compile(_grammar);
        return new TokenConstraint(_automaton, vocabulary, maxTokens);
    }

    /// <summary>Whether text generated so far may still turn out to be a tool call (so it is not streamed yet).</summary>
    public bool CouldBeCall(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!MayCall)
        {
            return false;
        }

        var start = text.TrimStart();
        return MustCall || start.StartsWith(CallOpen, StringComparison.Ordinal) || CallOpen.StartsWith(start, StringComparison.Ordinal);
    }

    /// <summary>
    /// The contents of the answer <paramref name="text"/>: a <see cref="FunctionCallContent"/> per well-formed call
    /// (with text before it, if any), else the text.
    /// </summary>
    public IList<AIContent> ReadAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var contents = new List<AIContent>();
        if (MayCall)
        {
            var rest = text;
            while (rest.IndexOf(CallOpen, StringComparison.Ordinal) is var open and >= 0
                && rest.IndexOf(CallClose, open, StringComparison.Ordinal) is var close and >= 0)
            {
                var before = rest[..open].Trim();
                var json = rest[(open + CallOpen.Length)..close];
                if (ParseCall(json) is not { } call)
                {
                    break;
                }

                if (before.Length > 0)
                {
                    contents.Add(new TextContent(before));
                }

                contents.Add(call);
                rest = rest[(close + CallClose.Length)..];
            }

            if (contents.Count > 0)
            {
                if (rest.Trim() is { Length: > 0 } after)
                {
                    contents.Add(new TextContent(after));
                }

                return contents;
            }
        }

        contents.Add(new TextContent(text));
        return contents;
    }

    private static FunctionCallContent? ParseCall(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            var arguments = root.TryGetProperty("arguments", out var args) && args.ValueKind == JsonValueKind.Object
                ? args.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone(), StringComparer.Ordinal)
                : [];
            return new FunctionCallContent("call_" + Guid.NewGuid().ToString("N")[..24], name.GetString()!, arguments);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static List<AIFunctionDeclaration> Functions(IList<AITool>? tools)
    {
        var functions = new List<AIFunctionDeclaration>();
        foreach (var tool in tools ?? [])
        {
            functions.Add(tool as AIFunctionDeclaration
                ?? throw new ArgumentException($"tool '{tool.Name}' is a {tool.GetType().Name}; a local model can only call functions (AIFunctionDeclaration)", nameof(tools)));
        }

        return functions;
    }

    private static GrammarNode? Answer(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } => JsonSchemaGrammar.FromSchema(schema),
        ChatResponseFormatJson => JsonSchemaGrammar.AnyObject(),
        _ => null,
    };

    // A call of 'tool': its name, then arguments under its parameters' schema.
    private static GrammarNode Call(AIFunctionDeclaration tool)
    {
        GrammarNode arguments;
        try
        {
            arguments = IsOpenObject(tool.JsonSchema) ? JsonSchemaGrammar.AnyObject() : JsonSchemaGrammar.FromSchema(tool.JsonSchema);
        }
        catch (UnsupportedSchemaException ex)
        {
            throw new UnsupportedSchemaException(ex.Path, $"tool '{tool.Name}' parameters: {ex.Problem}");
        }

        return GrammarNode.Sequence(
            GrammarNode.Literal(CallOpen + "\n{\"name\":" + JsonText.Quote(tool.Name) + ",\"arguments\":"),
            arguments,
            GrammarNode.Literal("}\n" + CallClose));
    }

    // A parameters schema that says nothing about the arguments: any object.
    private static bool IsOpenObject(JsonElement schema) =>
        schema.ValueKind != JsonValueKind.Object
        || (!schema.TryGetProperty("properties", out _) && !schema.TryGetProperty("anyOf", out _) && !schema.TryGetProperty("oneOf", out _)
            && !schema.TryGetProperty("enum", out _) && !schema.TryGetProperty("const", out _));

    private static List<(string Role, string Content)> Render(IEnumerable<ChatMessage> messages, string? instructions, List<AIFunctionDeclaration> tools)
    {
        var rendered = new List<(string Role, string Content)>();
        var system = new StringBuilder(instructions ?? string.Empty);
        var list = messages.ToList();
        var first = 0;
        if (list.Count > 0 && list[0].Role == ChatRole.System)
        {
            Append(system, list[0].Text);
            first = 1;
        }

        if (tools.Count > 0)
        {
            Append(system, ToolsText(tools));
        }

        if (system.Length > 0)
        {
            rendered.Add(("system", system.ToString()));
        }

        foreach (var message in list.Skip(first))
        {
            var results = message.Contents.OfType<FunctionResultContent>().ToList();
            if (results.Count > 0)
            {
                rendered.Add(("user", string.Join("\n", results.Select(r => "<tool_response>\n" + ResultText(r) + "\n</tool_response>"))));
                continue;
            }

            var text = new StringBuilder(message.Text);
            foreach (var call in message.Contents.OfType<FunctionCallContent>())
            {
                Append(text, CallOpen + "\n" + CallJson(call) + "\n" + CallClose);
            }

            rendered.Add((message.Role == ChatRole.Tool ? "user" : message.Role.Value, text.ToString()));
        }

        return rendered;
    }

    private static void Append(StringBuilder text, string part)
    {
        if (part.Length == 0)
        {
            return;
        }

        if (text.Length > 0)
        {
            text.Append("\n\n");
        }

        text.Append(part);
    }

    private static string ToolsText(List<AIFunctionDeclaration> tools)
    {
        var text = new StringBuilder();
        text.Append("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n");
        text.Append("You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
        foreach (var tool in tools)
        {
            var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("type", "function");
                json.WriteStartObject("function");
                json.WriteString("name", tool.Name);
                json.WriteString("description", tool.Description);
                json.WritePropertyName("parameters");
                if (tool.JsonSchema.ValueKind == JsonValueKind.Undefined)
                {
                    json.WriteStartObject();
                    json.WriteEndObject();
                }
                else
                {
                    tool.JsonSchema.WriteTo(json);
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            text.Append('\n').Append(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }

        text.Append("\n</tools>\n\nFor each function call, return a json object with function name and arguments within ");
        text.Append("<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>");
        return text.ToString();
    }

    private static string CallJson(FunctionCallContent call)
    {
        var arguments = JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), Compact.GetTypeInfo(typeof(IDictionary<string, object?>)));
        return "{\"name\":" + JsonText.Quote(call.Name) + ",\"arguments\":" + arguments + "}";
    }

    private static string ResultText(FunctionResultContent result) => result.Result switch
    {
        _ when result.Exception is { } error => "error: " + error.Message,
        null => "null",
        string text => text,
        JsonElement element => element.GetRawText(),
        var other => JsonSerializer.Serialize(other, Compact.GetTypeInfo(other.GetType())),
    };
}
