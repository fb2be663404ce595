using AgentFlow.Serving.OpenAI.Chat;
using AgentFlow.Serving.OpenAI.Embeddings;
using AgentFlow.Serving.OpenAI.Errors;
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
/// An OpenAI-compatible API over a set of models (name → chat client, name → embedding generator), so any OpenAI
/// client — including AgentFlow's own <c>provider: openai</c> — can use a worker's models: <c>GET /v1/models</c>,
/// <c>POST /v1/chat/completions</c> (JSON, or Server-Sent Events with <c>stream: true</c>; tools, tool choice and
/// response formats), <c>POST /v1/embeddings</c>, <c>GET /v1/models/{id}</c>. Every error, a client's mistake
/// (400/404/405/413) or the server's (500), uses OpenAI's <c>{error:{message,type,param,code}}</c>.
/// </summary>
public static class OpenAIEndpoint
{
    /// <summary>Largest request body accepted (1 MB).</summary>
    public const long MaxRequestBytes = 1 << 20;

    /// <summary>
    /// Starts Kestrel on <paramref name="url"/> (port 0 picks a free one) serving the chat <paramref name="models"/> and
    /// the <paramref name="embedders"/> (names must not repeat across the two: <c>GET /v1/models</c> lists both).
    /// </summary>
    /// <exception cref="ArgumentException">A name is both a chat model and an embedder.</exception>
    public static async Task<OpenAIEndpointHandle> StartAsync(
        string url,
        IReadOnlyDictionary<string, IChatClient> models,
        IReadOnlyDictionary<string, IEmbeddingGenerator<string, Embedding<float>>> embedders,
        ILoggerFactory loggerFactory,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(embedders);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = MaxRequestBytes);
        var app = builder.Build();
        app.UseOpenAIErrors();
        app.MapOpenAI(models, embedders, time);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OpenAIEndpointHandle(app, new Uri(address));
    }

    /// <summary>
    /// Maps the endpoints into an existing application (a later <c>serve</c> host reuses them); pair it with
    /// <see cref="UseOpenAIErrors"/> so that failures and unknown routes answer in OpenAI's error shape too.
    /// </summary>
    /// <exception cref="ArgumentException">A name is both a chat model and an embedder.</exception>
    public static IEndpointRouteBuilder MapOpenAI(
        this IEndpointRouteBuilder routes,
        IReadOnlyDictionary<string, IChatClient> models,
        IReadOnlyDictionary<string, IEmbeddingGenerator<string, Embedding<float>>> embedders,
        TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(embedders);
        ArgumentNullException.ThrowIfNull(time);
        if (models.Keys.Intersect(embedders.Keys, StringComparer.Ordinal).ToList() is [_, ..] both)
        {
            throw new ArgumentException($"'{string.Join("', '", both)}' cannot be served both as a chat model and as an embedder: a model id names one model", nameof(embedders));
        }

        var logger = routes.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenAIEndpoint).FullName!);
        var catalog = new ModelsApi(models.Keys.Concat(embedders.Keys), time.GetUtcNow());
        var chat = new ChatCompletionHandler(models, embedders.Keys, time, logger);
        var embeddings = new EmbeddingsHandler(embedders, [.. models.Keys]);
        routes.MapGet("/v1/models", catalog.ListAsync);
        routes.MapGet("/v1/models/{**id}", (HttpContext http, string id) => catalog.RetrieveAsync(http, id));
        routes.MapPost("/v1/chat/completions", chat.HandleAsync);
        routes.MapPost("/v1/embeddings", embeddings.HandleAsync);
        return routes;
    }

    /// <summary>
    /// Answers in OpenAI's error shape what no endpoint answers: an unexpected failure is a JSON 500 (logged), an
    /// unknown route a JSON 404 and a wrong method a JSON 405, never an empty body. Add it before the endpoints run.
    /// </summary>
    public static IApplicationBuilder UseOpenAIErrors(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenAIEndpoint).FullName!);
        return app.Use(async (http, next) =>
        {
            try
            {
                await next(http).ConfigureAwait(false);
            }
            catch (Exception ex) when (!http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
            {
                EndpointLog.RequestFailed(logger, http.Request.Method, http.Request.Path, ex);
                http.Response.Clear();
                await new OpenAIError(StatusCodes.Status500InternalServerError, "The server had an error while processing your request; its log has the details.", "server_error")
                    .WriteAsync(http).ConfigureAwait(false);
                return;
            }

            if (http.Response.HasStarted)
            {
                return;
            }

            var route = $"{http.Request.Method} {http.Request.Path}";
            var error = http.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => new OpenAIError(StatusCodes.Status404NotFound, $"Unknown request URL: {route}.", "invalid_request_error", null, "unknown_url"),
                StatusCodes.Status405MethodNotAllowed => new OpenAIError(StatusCodes.Status405MethodNotAllowed, $"Invalid method for URL ({route}); allowed: {http.Response.Headers.Allow}.", "invalid_request_error", null, "method_not_allowed"),
                _ => null,
            };
            if (error is not null)
            {
                await error.WriteAsync(http).ConfigureAwait(false);
            }
        });
    }
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
