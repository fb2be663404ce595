using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Models;
using AgentFlow.Serving.OpenAI.Errors;
using AgentFlow.Serving.OpenAI.Requests;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>
/// <c>POST /v1/chat/completions</c>: reads the request, refuses what the model cannot honour, and answers as one JSON
/// completion or as Server-Sent Events; a tool call the model makes is answered as <c>tool_calls</c> (the endpoint
/// never runs tools: the client does). With <c>n</c> &gt; 1 the choices are generated one after another, each with
/// its own seed (the request's seed + the choice's index), so seeded requests stay reproducible.
/// </summary>
internal sealed class ChatCompletionHandler(IReadOnlyDictionary<string, IChatClient> models, IEnumerable<string> embedders, TimeProvider time, ILogger logger)
{
    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpContext http)
    {
        if (await RequestBody.ReadAsync(http).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var request = ChatCompletionRequestReader.Read(body, out var problems);
        if (request is null)
        {
            await OpenAIError.Combine(problems).WriteAsync(http).ConfigureAwait(false);
            return;
        }

        if (!models.TryGetValue(request.Model, out var client))
        {
            if (embedders.Contains(request.Model, StringComparer.Ordinal))
            {
                await OpenAIError.InvalidRequest($"The model '{request.Model}' is an embedding model; use it with /v1/embeddings (chat models served: {string.Join(", ", models.Keys.Order(StringComparer.Ordinal))})", "model", "model_not_found")
                    .WriteAsync(http).ConfigureAwait(false);
                return;
            }

            await new OpenAIError(StatusCodes.Status404NotFound, $"The model '{request.Model}' does not exist (served: {string.Join(", ", models.Keys.Order(StringComparer.Ordinal))})", "invalid_request_error", "model", "model_not_found")
                .WriteAsync(http).ConfigureAwait(false);
            return;
        }

        if (Unsupported(request, client) is { } refusal)
        {
            await refusal.WriteAsync(http).ConfigureAwait(false);
            return;
        }

        // An unseeded request samples differently each time, as OpenAI's does (a local model's own default seed is
        // for reproducible workflow runs, not for an API whose clients expect variety).
        request.Options.Seed ??= Random.Shared.NextInt64(0, uint.MaxValue);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        try
        {
            if (request.Stream)
            {
                await new ChatCompletionStream(http, client, request, id, created, logger).WriteAsync().ConfigureAwait(false);
            }
            else
            {
                await CompleteAsync(http, client, request, id, created).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!http.Response.HasStarted && ModelErrors.ToClientError(ex, request) is { } error)
        {
            await error.WriteAsync(http).ConfigureAwait(false);
        }
    }

    private static OpenAIError? Unsupported(ChatCompletionRequest request, IChatClient client)
    {
        var support = SamplingSupport.Of(client);
        var options = request.Options;
        foreach (var (param, asked, honoured) in new[]
        {
            ("frequency_penalty", options.FrequencyPenalty is not (null or 0f), support?.Penalties == true),
            ("presence_penalty", options.PresencePenalty is not (null or 0f), support?.Penalties == true),
            ("logit_bias", options.GetLogitBias() is { Count: > 0 }, support?.LogitBias == true),
            ("logprobs", request.LogProbabilities, support?.LogProbabilities == true),
        })
        {
            if (asked && !honoured)
            {
                return OpenAIError.InvalidRequest($"The model '{request.Model}' does not support '{param}'; remove it from the request.", param, "unsupported_parameter");
            }
        }

        return null;
    }

    private static async Task CompleteAsync(HttpContext http, IChatClient client, ChatCompletionRequest request, string id, long created)
    {
        var choices = new JsonArray();
        long? promptTokens = null;
        long completionTokens = 0;
        for (var index = 0; index < request.Choices; index++)
        {
            var response = await client.GetResponseAsync(request.Messages, ChoiceOptions(request, index), http.RequestAborted).ConfigureAwait(false);
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            var message = new JsonObject
            {
                ["role"] = "assistant",

                // As OpenAI answers a call: no content unless the model also wrote text.
                ["content"] = calls.Count > 0 && response.Text.Length == 0 ? null : response.Text,
                ["refusal"] = null,
            };
            if (calls.Count > 0)
            {
                message["tool_calls"] = new JsonArray([.. calls.Select(c => ToolCall(c, null))]);
            }

            choices.Add(new JsonObject
            {
                ["index"] = index,
                ["message"] = message,
                ["logprobs"] = request.LogProbabilities ? LogProbabilities(TokenLogProbabilities.Read(response.AdditionalProperties)) : null,
                ["finish_reason"] = Finish(response.FinishReason),
            });
            promptTokens ??= response.Usage?.InputTokenCount;
            completionTokens += response.Usage?.OutputTokenCount ?? 0;
        }

        var body = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = request.Model,
            ["choices"] = choices,
            ["usage"] = Usage(promptTokens ?? 0, completionTokens),
        };
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The options of choice <paramref name="index"/>: the request's, with the seed moved on by the index.</summary>
    internal static ChatOptions ChoiceOptions(ChatCompletionRequest request, int index)
    {
        if (index == 0)
        {
            return request.Options;
        }

        var options = request.Options.Clone();
        options.Seed = unchecked(options.Seed + index);
        return options;
    }

    /// <summary>OpenAI's usage object.</summary>
    internal static JsonObject Usage(long prompt, long completion) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
    };

    /// <summary>OpenAI's finish reason for a chat finish reason (a missing one is a normal stop).</summary>
    internal static string Finish(ChatFinishReason? reason) =>
        reason == ChatFinishReason.Length ? "length"
        : reason == ChatFinishReason.ContentFilter ? "content_filter"
        : reason == ChatFinishReason.ToolCalls ? "tool_calls"
        : "stop";

    /// <summary>
    /// A call as OpenAI writes it: <c>{id, type: function, function: {name, arguments}}</c>, the arguments as a JSON
    /// string; in a stream delta also its <paramref name="index"/>.
    /// </summary>
    internal static JsonObject ToolCall(FunctionCallContent call, int? index)
    {
        var json = new JsonObject();
        if (index is { } i)
        {
            json["index"] = i;
        }

        json["id"] = call.CallId;
        json["type"] = "function";
        json["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = Arguments(call) };
        return json;
    }

    /// <summary>
    /// OpenAI's <c>logprobs</c> of a choice (or of a stream chunk): <c>{content: [{token, logprob, bytes,
    /// top_logprobs}], refusal: null}</c>.
    /// </summary>
    internal static JsonObject LogProbabilities(IReadOnlyList<TokenLogProbability>? tokens) => new()
    {
        ["content"] = new JsonArray([.. (tokens ?? []).Select(t => Token(t, withTop: true))]),
        ["refusal"] = null,
    };

    private static JsonObject Token(TokenLogProbability token, bool withTop)
    {
        var json = new JsonObject
        {
            ["token"] = token.Token,
            ["logprob"] = token.LogProbability,
            ["bytes"] = new JsonArray([.. token.Bytes.Select(b => (JsonNode)(int)b)]),
        };
        if (withTop)
        {
            json["top_logprobs"] = new JsonArray([.. token.Top.Select(t => Token(t, withTop: false))]);
        }

        return json;
    }

    /// <summary>The call's arguments as compact JSON text (<c>{}</c> when it has none).</summary>
    internal static string Arguments(FunctionCallContent call) =>
        JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>)));
}
