using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Serving.OpenAI;

/// <summary>
/// An OpenAI-compatible API over a set of models (name → chat client), so any OpenAI client — including AgentFlow's own
/// <c>provider: openai</c> — can use a worker's models: <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c>
/// (JSON, or Server-Sent Events with <c>stream: true</c>). Errors use OpenAI's <c>{error:{message,type,param,code}}</c>.
/// </summary>
public static class OpenAIEndpoint
{
    /// <summary>Largest request body accepted (1 MB).</summary>
    public const long MaxRequestBytes = 1 << 20;

    /// <summary>Starts Kestrel on <paramref name="url"/> (port 0 picks a free one) serving <paramref name="models"/>.</summary>
    public static async Task<OpenAIEndpointHandle> StartAsync(
        string url, IReadOnlyDictionary<string, IChatClient> models, ILoggerFactory loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(models);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = MaxRequestBytes);
        var app = builder.Build();
        app.MapOpenAI(models, time);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OpenAIEndpointHandle(app, new Uri(address));
    }

    /// <summary>Maps the endpoints into an existing application (a later <c>serve</c> host reuses them).</summary>
    public static IEndpointRouteBuilder MapOpenAI(this IEndpointRouteBuilder routes, IReadOnlyDictionary<string, IChatClient> models, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(routes);
        routes.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray([.. models.Keys.Order(StringComparer.Ordinal).Select(m => (JsonNode)new JsonObject { ["id"] = m, ["object"] = "model", ["owned_by"] = "agentflow" })]),
        }));
        routes.MapPost("/v1/chat/completions", (HttpContext http) => CompleteAsync(http, models, time));
        return routes;
    }

    private static async Task CompleteAsync(HttpContext http, IReadOnlyDictionary<string, IChatClient> models, TimeProvider time)
    {
        JsonObject body;
        try
        {
            body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted).ConfigureAwait(false))?.AsObject()
                ?? throw new JsonException("empty body");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await ErrorAsync(http, 413, $"request body is larger than {MaxRequestBytes} bytes", "invalid_request_error", null).ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            await ErrorAsync(http, 400, $"the body is not a JSON object: {ex.Message}", "invalid_request_error", null).ConfigureAwait(false);
            return;
        }

        var model = body["model"]?.GetValue<string>();
        if (model is null || !models.TryGetValue(model, out var client))
        {
            await ErrorAsync(http, 404, $"The model '{model}' does not exist (served: {string.Join(", ", models.Keys)})", "invalid_request_error", "model_not_found").ConfigureAwait(false);
            return;
        }

        if (!TryReadRequest(body, out var messages, out var options, out var problem))
        {
            await ErrorAsync(http, 400, problem!, "invalid_request_error", null).ConfigureAwait(false);
            return;
        }

        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        if (body["stream"]?.GetValue<bool>() == true)
        {
            await StreamAsync(http, client, model, messages, options, id, created, body["stream_options"]?["include_usage"]?.GetValue<bool>() == true).ConfigureAwait(false);
            return;
        }

        var response = await client.GetResponseAsync(messages, options, http.RequestAborted).ConfigureAwait(false);
        await Results.Json(new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = response.Text },
                ["finish_reason"] = Finish(response.FinishReason),
            }),
            ["usage"] = Usage(response.Usage),
        }).ExecuteAsync(http).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext http, IChatClient client, string model, List<ChatMessage> messages, ChatOptions options, string id, long created, bool includeUsage)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        UsageDetails? usage = null;
        string? finish = null;
        await foreach (var update in client.GetStreamingResponseAsync(messages, options, http.RequestAborted).ConfigureAwait(false))
        {
            foreach (var content in update.Contents.OfType<UsageContent>())
            {
                usage = content.Details;
            }

            finish = update.FinishReason is { } reason ? Finish(reason) : finish;
            if (!string.IsNullOrEmpty(update.Text))
            {
                await SendAsync(http, Chunk(id, created, model, new JsonObject { ["content"] = update.Text }, null)).ConfigureAwait(false);
            }
        }

        await SendAsync(http, Chunk(id, created, model, new JsonObject(), finish ?? "stop")).ConfigureAwait(false);
        if (includeUsage)
        {
            var last = Chunk(id, created, model, null, null);
            last["choices"] = new JsonArray();
            last["usage"] = Usage(usage);
            await SendAsync(http, last).ConfigureAwait(false);
        }

        await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted).ConfigureAwait(false);
    }

    private static JsonObject Chunk(string id, long created, string model, JsonObject? delta, string? finish) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = delta is null ? new JsonArray() : new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
    };

    private static async Task SendAsync(HttpContext http, JsonObject chunk)
    {
        await http.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static bool TryReadRequest(JsonObject body, out List<ChatMessage> messages, out ChatOptions options, out string? problem)
    {
        messages = [];
        options = new ChatOptions();
        problem = null;
        if (body["messages"] is not JsonArray list || list.Count == 0)
        {
            problem = "'messages' must be a non-empty array";
            return false;
        }

        foreach (var item in list)
        {
            var role = item?["role"]?.GetValue<string>();
            var content = item?["content"] switch
            {
                JsonValue v => v.GetValue<string>(),
                JsonArray parts => string.Concat(parts.Where(p => p?["type"]?.GetValue<string>() == "text").Select(p => p!["text"]?.GetValue<string>())),
                _ => null,
            };
            if (role is not ("system" or "user" or "assistant" or "developer") || content is null)
            {
                problem = "each message needs a role (system, user, assistant) and text content";
                return false;
            }

            messages.Add(new ChatMessage(role switch { "assistant" => ChatRole.Assistant, "user" => ChatRole.User, _ => ChatRole.System }, content));
        }

        try
        {
            options.MaxOutputTokens = (body["max_completion_tokens"] ?? body["max_tokens"])?.GetValue<int>();
            options.Temperature = body["temperature"]?.GetValue<float>();
            options.TopP = body["top_p"]?.GetValue<float>();
            options.Seed = body["seed"]?.GetValue<long>();
            options.StopSequences = body["stop"] switch
            {
                JsonValue one => [one.GetValue<string>()],
                JsonArray many => [.. many.Select(s => s!.GetValue<string>())],
                _ => null,
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            problem = $"a sampling field has the wrong type: {ex.Message}";
            return false;
        }

        return true;
    }

    private static JsonObject Usage(UsageDetails? usage) => new()
    {
        ["prompt_tokens"] = usage?.InputTokenCount ?? 0,
        ["completion_tokens"] = usage?.OutputTokenCount ?? 0,
        ["total_tokens"] = usage?.TotalTokenCount ?? (usage?.InputTokenCount ?? 0) + (usage?.OutputTokenCount ?? 0),
    };

    private static string Finish(ChatFinishReason? reason) =>
        reason == ChatFinishReason.Length ? "length" : reason == ChatFinishReason.ContentFilter ? "content_filter" : "stop";

    private static Task ErrorAsync(HttpContext http, int status, string message, string type, string? code) =>
        Results.Json(new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = code } }, statusCode: status).ExecuteAsync(http);
}

/// <summary>A running endpoint; disposing stops it.</summary>
public sealed class OpenAIEndpointHandle(WebApplication app, Uri address) : IAsyncDisposable
{
    /// <summary>Where it listens (the real port when 0 was asked for).</summary>
    public Uri Address { get; } = address;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }
}
