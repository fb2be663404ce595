using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Models;
using AgentFlow.Serving.OpenAI.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>
/// <c>POST /v1/chat/completions</c>: reads the request, refuses what the model cannot honour, and answers as one JSON
/// completion or as Server-Sent Events. With <c>n</c> &gt; 1 the choices are generated one after another, each with
/// its own seed (the request's seed + the choice's index), so seeded requests stay reproducible.
/// </summary>
internal sealed class ChatCompletionHandler(IReadOnlyDictionary<string, IChatClient> models, TimeProvider time, ILogger logger)
{
    private static readonly JsonDocumentOptions RequestJson = new() { AllowDuplicateProperties = false };

    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpContext http)
    {
        if (await ReadBodyAsync(http).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var request = ChatCompletionRequestReader.Read(body, out var problems);
        if (request is null)
        {
            await Combine(problems).WriteAsync(http).ConfigureAwait(false);
            return;
        }

        if (!models.TryGetValue(request.Model, out var client))
        {
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
        catch (Exception ex) when (!http.Response.HasStarted && ModelErrors.ToClientError(ex) is { } error)
        {
            await error.WriteAsync(http).ConfigureAwait(false);
        }
    }

    private static async Task<JsonObject?> ReadBodyAsync(HttpContext http)
    {
        try
        {
            // A repeated field would otherwise surface later, as an exception while the fields are read.
            if (await JsonNode.ParseAsync(http.Request.Body, documentOptions: RequestJson, cancellationToken: http.RequestAborted).ConfigureAwait(false) is JsonObject body)
            {
                return body;
            }

            await OpenAIError.InvalidRequest("The request body must be a JSON object.").WriteAsync(http).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            await new OpenAIError(ex.StatusCode, ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"The request body is larger than {OpenAIEndpoint.MaxRequestBytes} bytes."
                : $"The request could not be read: {ex.Message}", "invalid_request_error").WriteAsync(http).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await OpenAIError.InvalidRequest($"We could not parse the JSON body of your request: {ex.Message}").WriteAsync(http).ConfigureAwait(false);
        }

        return null;
    }

    // OpenAI answers one error; it names the first field at fault and lists the others in its message.
    private static OpenAIError Combine(IReadOnlyList<OpenAIError> problems) => problems.Count == 1
        ? problems[0]
        : problems[0] with { Message = string.Create(CultureInfo.InvariantCulture, $"{problems.Count} problems: {string.Join("; ", problems.Select(p => p.Message))}") };

    private static OpenAIError? Unsupported(ChatCompletionRequest request, IChatClient client)
    {
        var support = SamplingSupport.Of(client);
        var options = request.Options;
        foreach (var (param, asked, honoured) in new[]
        {
            ("frequency_penalty", options.FrequencyPenalty is not (null or 0f), support?.Penalties == true),
            ("presence_penalty", options.PresencePenalty is not (null or 0f), support?.Penalties == true),
            ("logit_bias", options.GetLogitBias() is { Count: > 0 }, support?.LogitBias == true),
            ("logprobs", request.LogProbabilities, false),
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
            choices.Add(new JsonObject
            {
                ["index"] = index,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = response.Text, ["refusal"] = null },
                ["logprobs"] = null,
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
        reason == ChatFinishReason.Length ? "length" : reason == ChatFinishReason.ContentFilter ? "content_filter" : "stop";
}
