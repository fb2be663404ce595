using System.Text.Json.Nodes;
using AgentFlow.Serving.OpenAI.Errors;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Serving.OpenAI;

/// <summary>
/// <c>GET /v1/models</c> and <c>GET /v1/models/{id}</c>. A model's <c>created</c> is when this endpoint started serving
/// it (unix seconds): the models are loaded then, and a local model has no publication date to report.
/// </summary>
internal sealed class ModelsApi(IEnumerable<string> names, DateTimeOffset servedSince)
{
    private readonly string[] _names = [.. names.Order(StringComparer.Ordinal)];

    /// <summary>The list of served models.</summary>
    public Task ListAsync(HttpContext http) => WriteAsync(http, new JsonObject
    {
        ["object"] = "list",
        ["data"] = new JsonArray([.. _names.Select(Model)]),
    });

    /// <summary>One model, or a 404 <c>model_not_found</c>.</summary>
    public Task RetrieveAsync(HttpContext http, string id) => _names.Contains(id, StringComparer.Ordinal)
        ? WriteAsync(http, Model(id))
        : new OpenAIError(StatusCodes.Status404NotFound, $"The model '{id}' does not exist (served: {string.Join(", ", _names)})", "invalid_request_error", "model", "model_not_found").WriteAsync(http);

    private JsonNode Model(string id) => new JsonObject
    {
        ["id"] = id,
        ["object"] = "model",
        ["created"] = servedSince.ToUnixTimeSeconds(),
        ["owned_by"] = "agentflow",
    };

    private static Task WriteAsync(HttpContext http, JsonNode body)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted);
    }
}
