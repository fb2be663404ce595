using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Models;
using AgentFlow.Serving.OpenAI.Errors;
using AgentFlow.Serving.OpenAI.Requests;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>
/// Reads a chat completion body into a <see cref="ChatCompletionRequest"/>, checking every field's type and range as
/// OpenAI does. A field is supported by reading it here (one method per group of fields); any field no method reads is
/// refused with OpenAI's "Unrecognized request argument", so nothing a client asks for is silently ignored.
/// </summary>
internal static class ChatCompletionRequestReader
{
    /// <summary>OpenAI's limit on stop sequences.</summary>
    public const int MaxStopSequences = 4;

    /// <summary>The most choices (<c>n</c>) one request may ask for: each is a whole generation on this machine.</summary>
    public const int MaxChoices = 16;

    /// <summary>Reads <paramref name="body"/>; on failure returns null and every problem found (the first names the <c>param</c>).</summary>
    public static ChatCompletionRequest? Read(JsonObject body, out IReadOnlyList<OpenAIError> problems)
    {
        var reader = new JsonFieldReader(body);
        var model = reader.String(reader.Field("model"), "model", required: true);
        var messages = ReadMessages(reader);
        var options = new ChatOptions();
        ReadSampling(reader, options);
        ToolFieldsReader.ReadTools(reader, options);
        options.ResponseFormat = ToolFieldsReader.ReadResponseFormat(reader);
        var (stream, includeUsage) = ReadStreaming(reader);
        var choices = (int?)reader.Integer(reader.Field("n"), "n", 1, MaxChoices) ?? 1;
        var (logprobs, topLogprobs) = ReadLogProbabilities(reader);
        if (logprobs)
        {
            TokenLogProbabilities.Request(options, topLogprobs);
        }

        // Fields that describe the caller and do not change the answer.
        reader.String(reader.Field("user"), "user");
        reader.Object(reader.Field("metadata"), "metadata");

        reader.RejectUnread();
        problems = reader.Problems;
        return problems.Count > 0 ? null : new ChatCompletionRequest
        {
            Model = model!,
            Messages = messages,
            Options = options,
            Stream = stream,
            IncludeUsage = includeUsage,
            Choices = choices,
            LogProbabilities = logprobs,
            TopLogProbabilities = topLogprobs,
        };
    }

    private static List<ChatMessage> ReadMessages(JsonFieldReader reader)
    {
        var messages = new List<ChatMessage>();
        if (reader.Array(reader.Field("messages"), "messages", required: true) is not { } list)
        {
            return messages;
        }

        if (list.Count == 0)
        {
            reader.Problem("messages", "'messages' must be a non-empty array");
        }

        for (var i = 0; i < list.Count; i++)
        {
            var param = string.Create(CultureInfo.InvariantCulture, $"messages[{i}]");
            if (reader.Object(list[i], param) is not { } item)
            {
                if (list[i] is null)
                {
                    reader.Problem(param, $"'{param}' must be an object, not null", "invalid_type");
                }

                continue;
            }

            var role = reader.String(item["role"], param + ".role", required: true);
            var content = ReadContent(reader, item["content"], param + ".content", required: role is not ("assistant" or null));
            switch (role)
            {
                case null:
                    break;
                case "system" or "developer" or "user":
                    reader.String(item["name"], param + ".name");
                    reader.RejectUnknown(item, param, "role", "content", "name");
                    messages.Add(new ChatMessage(role == "user" ? ChatRole.User : ChatRole.System, content));
                    break;
                case "assistant":
                    // An earlier answer, possibly with the calls it made (their results follow as tool messages).
                    reader.String(item["name"], param + ".name");
                    reader.String(item["refusal"], param + ".refusal");
                    reader.RejectUnknown(item, param, "role", "content", "name", "refusal", "tool_calls");
                    var calls = ToolFieldsReader.ReadToolCalls(reader, item["tool_calls"], param + ".tool_calls");
                    messages.Add(new ChatMessage(ChatRole.Assistant, [.. Text(content), .. calls ?? []]));
                    break;
                case "tool":
                    reader.RejectUnknown(item, param, "role", "content", "tool_call_id");
                    if (ToolFieldsReader.ReadToolResult(reader, item, param, content) is { } result)
                    {
                        messages.Add(new ChatMessage(ChatRole.Tool, [result]));
                    }

                    break;
                default:
                    reader.Problem(param + ".role", $"'{param}.role' must be one of system, developer, user, assistant, tool (got '{role}')");
                    break;
            }
        }

        return messages;
    }

    // A string, or an array of text parts ({type: "text", text}) joined; other part types (images, audio) are refused.
    private static string? ReadContent(JsonFieldReader reader, JsonNode? node, string param, bool required)
    {
        if (node is JsonArray parts)
        {
            var text = new StringBuilder();
            for (var i = 0; i < parts.Count; i++)
            {
                var partParam = string.Create(CultureInfo.InvariantCulture, $"{param}[{i}]");
                if (reader.Object(parts[i], partParam) is not { } part)
                {
                    continue;
                }

                var type = reader.String(part["type"], partParam + ".type", required: true);
                if (type is not null and not "text")
                {
                    reader.Problem(partParam + ".type", $"'{partParam}.type' is '{type}'; only 'text' content parts are supported");
                    continue;
                }

                text.Append(reader.String(part["text"], partParam + ".text", required: true));
                reader.RejectUnknown(part, partParam, "type", "text");
            }

            return text.ToString();
        }

        return node is null || node.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? reader.String(node, param, required)
            : TypeProblem(reader, node, param);
    }

    private static string? TypeProblem(JsonFieldReader reader, JsonNode node, string param)
    {
        reader.Problem(param, $"'{param}' must be a string or an array of text parts, not {node.GetValueKind().ToString().ToLowerInvariant()} {node.ToJsonString()}", "invalid_type");
        return null;
    }

    private static IEnumerable<AIContent> Text(string? content) => string.IsNullOrEmpty(content) ? [] : [new TextContent(content)];

    private static void ReadSampling(JsonFieldReader reader, ChatOptions options)
    {
        // max_completion_tokens is the current name; max_tokens the older one. When both are sent the current one wins.
        var maxTokens = reader.Integer(reader.Field("max_tokens"), "max_tokens", 1, int.MaxValue);
        var maxCompletion = reader.Integer(reader.Field("max_completion_tokens"), "max_completion_tokens", 1, int.MaxValue);
        options.MaxOutputTokens = (int?)(maxCompletion ?? maxTokens);
        options.Temperature = (float?)reader.Number(reader.Field("temperature"), "temperature", 0, 2);
        options.TopP = (float?)reader.Number(reader.Field("top_p"), "top_p", 0, 1);
        options.Seed = reader.Integer(reader.Field("seed"), "seed");
        options.FrequencyPenalty = (float?)reader.Number(reader.Field("frequency_penalty"), "frequency_penalty", -2, 2);
        options.PresencePenalty = (float?)reader.Number(reader.Field("presence_penalty"), "presence_penalty", -2, 2);
        options.StopSequences = ReadStop(reader);
        if (reader.Object(reader.Field("logit_bias"), "logit_bias") is { Count: > 0 } bias)
        {
            var biases = new Dictionary<int, float>();
            foreach (var (key, value) in bias)
            {
                var param = $"logit_bias.{key}";
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var token))
                {
                    reader.Problem(param, $"'logit_bias' keys must be token ids (non-negative integers), not '{key}'");
                }
                else if (reader.Number(value, param, -100, 100) is { } number)
                {
                    biases[token] = (float)number;
                }
                else if (value is null)
                {
                    reader.Problem(param, $"'{param}' must be a number between -100 and 100, not null", "invalid_type");
                }
            }

            options.SetLogitBias(biases);
        }
    }

    private static List<string>? ReadStop(JsonFieldReader reader)
    {
        var node = reader.Field("stop");
        if (node is JsonArray many)
        {
            if (many.Count > MaxStopSequences)
            {
                reader.Problem("stop", $"'stop' may hold at most {MaxStopSequences} sequences (got {many.Count})");
            }

            var stops = new List<string>();
            for (var i = 0; i < many.Count; i++)
            {
                var param = string.Create(CultureInfo.InvariantCulture, $"stop[{i}]");
                if (reader.String(many[i], param, required: true) is { } stop)
                {
                    stops.Add(stop);
                }
            }

            return stops.Count > 0 ? stops : null;
        }

        return node is null ? null : reader.String(node, "stop") is { } one ? [one] : null;
    }

    private static (bool Stream, bool IncludeUsage) ReadStreaming(JsonFieldReader reader)
    {
        var stream = reader.Bool(reader.Field("stream"), "stream") ?? false;
        if (reader.Object(reader.Field("stream_options"), "stream_options") is not { } streamOptions)
        {
            return (stream, false);
        }

        if (!stream)
        {
            reader.Problem("stream_options", "'stream_options' is only allowed when 'stream' is true");
        }

        reader.RejectUnknown(streamOptions, "stream_options", "include_usage");
        return (stream, reader.Bool(streamOptions["include_usage"], "stream_options.include_usage") ?? false);
    }

    private static (bool LogProbabilities, int Top) ReadLogProbabilities(JsonFieldReader reader)
    {
        var logprobs = reader.Bool(reader.Field("logprobs"), "logprobs") ?? false;
        var top = (int?)reader.Integer(reader.Field("top_logprobs"), "top_logprobs", 0, TokenLogProbabilities.MaxTop);
        if (top is not null && !logprobs)
        {
            reader.Problem("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
        }

        return (logprobs, top ?? 0);
    }
}
