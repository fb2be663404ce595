using System.Text.Json.Nodes;
using AgentFlow.Models;
using AgentFlow.Serving.OpenAI.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>
/// A streamed chat completion, as OpenAI sends it: per choice a first chunk with <c>delta.role</c>, text chunks, tool
/// calls as <c>delta.tool_calls</c> (with their <c>index</c>), and a chunk with the finish reason; with
/// <c>include_usage</c> every chunk has <c>usage: null</c> and a last chunk with no choices carries the usage; then
/// <c>data: [DONE]</c>.
/// </summary>
internal sealed class ChatCompletionStream(HttpContext http, IChatClient client, ChatCompletionRequest request, string id, long created, ILogger logger)
{
    private CancellationToken Aborted => http.RequestAborted;

    /// <summary>
    /// Streams every choice. A failure before the first byte is thrown (so the caller can still answer with a status);
    /// one after it is sent as an error event, which the SDKs raise.
    /// </summary>
    public async Task WriteAsync()
    {
        long? promptTokens = null;
        long completionTokens = 0;
        try
        {
            for (var index = 0; index < request.Choices; index++)
            {
                var options = ChatCompletionHandler.ChoiceOptions(request, index);
                var updates = client.GetStreamingResponseAsync(request.Messages, options, Aborted).GetAsyncEnumerator(Aborted);
                await using (updates.ConfigureAwait(false))
                {
                    // Awaited before anything is sent, so a request the model refuses (a prompt longer than its
                    // context) still gets a 400 rather than a broken stream.
                    var more = await updates.MoveNextAsync().ConfigureAwait(false);
                    if (!http.Response.HasStarted)
                    {
                        http.Response.ContentType = "text/event-stream";
                        http.Response.Headers.CacheControl = "no-cache";
                    }

                    await SendAsync(Chunk(index, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty, ["refusal"] = null }, null)).ConfigureAwait(false);
                    string? finish = null;
                    var calls = 0;

                    // Log probabilities of tokens that brought no text of their own (held back, or writing nothing) go
                    // with the next text, or with the finish chunk.
                    var carried = new List<TokenLogProbability>();
                    for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        var update = updates.Current;
                        foreach (var usage in update.Contents.OfType<UsageContent>())
                        {
                            promptTokens ??= usage.Details.InputTokenCount;
                            completionTokens += usage.Details.OutputTokenCount ?? 0;
                        }

                        finish = update.FinishReason is { } reason ? ChatCompletionHandler.Finish(reason) : finish;
                        carried.AddRange(TokenLogProbabilities.Read(update.AdditionalProperties) ?? []);
                        if (!string.IsNullOrEmpty(update.Text))
                        {
                            await SendAsync(WithLogProbabilities(Chunk(index, new JsonObject { ["content"] = update.Text }, null), carried)).ConfigureAwait(false);
                        }

                        foreach (var call in update.Contents.OfType<FunctionCallContent>())
                        {
                            await SendCallAsync(index, calls++, call).ConfigureAwait(false);
                        }
                    }

                    await SendAsync(WithLogProbabilities(Chunk(index, new JsonObject(), finish ?? "stop"), carried)).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (http.Response.HasStarted && !Aborted.IsCancellationRequested)
        {
            var error = ModelErrors.ToClientError(ex, request) ?? new OpenAIError(StatusCodes.Status500InternalServerError, $"The model failed while streaming: {ex.Message}", "server_error");
            EndpointLog.StreamFailed(logger, request.Model, ex);
            await SendAsync(error.ToJson()).ConfigureAwait(false);
            return;
        }

        if (request.IncludeUsage)
        {
            var last = Chunk(null, null, null);
            last["usage"] = ChatCompletionHandler.Usage(promptTokens ?? 0, completionTokens);
            await SendAsync(last).ConfigureAwait(false);
        }

        await http.Response.WriteAsync("data: [DONE]\n\n", Aborted).ConfigureAwait(false);
    }

    // As OpenAI streams a call: its id, type and name with empty arguments first, then the arguments (a client
    // joins the argument pieces of each index; a local model's call arrives whole, so there is one piece).
    private async Task SendCallAsync(int choice, int index, FunctionCallContent call)
    {
        var head = ChatCompletionHandler.ToolCall(call, index);
        head["function"]!["arguments"] = string.Empty;
        await SendAsync(Chunk(choice, new JsonObject { ["tool_calls"] = new JsonArray(head) }, null)).ConfigureAwait(false);
        var arguments = new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = ChatCompletionHandler.Arguments(call) } };
        await SendAsync(Chunk(choice, new JsonObject { ["tool_calls"] = new JsonArray(arguments) }, null)).ConfigureAwait(false);
    }

    // With logprobs asked for, the chunk carries (and takes) the carried ones, when there are any.
    private JsonObject WithLogProbabilities(JsonObject chunk, List<TokenLogProbability> carried)
    {
        if (request.LogProbabilities && carried.Count > 0)
        {
            chunk["choices"]![0]!["logprobs"] = ChatCompletionHandler.LogProbabilities(carried);
            carried.Clear();
        }

        return chunk;
    }

    private JsonObject Chunk(int? index, JsonObject? delta, string? finish)
    {
        var chunk = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = request.Model,
            ["choices"] = index is { } i
                ? new JsonArray(new JsonObject { ["index"] = i, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish })
                : new JsonArray(),
        };
        if (request.IncludeUsage)
        {
            chunk["usage"] = null;
        }

        return chunk;
    }

    private async Task SendAsync(JsonObject data)
    {
        await http.Response.WriteAsync("data: " + data.ToJsonString() + "\n\n", Aborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(Aborted).ConfigureAwait(false);
    }
}
