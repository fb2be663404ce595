using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Server.Http;

/// <summary>The few response and request shapes every endpoint shares: problem details and a JSON object body.</summary>
internal static class ApiResults
{
    /// <summary>An RFC 9457 problem (server paths are hidden by <see cref="ServerPaths.Filter"/>).</summary>
    public static IResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);

    /// <summary>The request body as a JSON object, or the 400 that says what to send instead (<paramref name="example"/>).</summary>
    public static async Task<(JsonObject? Body, IResult? Invalid)> ReadObjectAsync(HttpContext http, string example)
    {
        try
        {
            return (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted).ConfigureAwait(false) as JsonObject
                ?? throw new JsonException("the body is not a JSON object"), null);
        }
        catch (JsonException ex)
        {
            return (null, Problem(400, "the body is not valid JSON", $"{ex.Message}; send {example}"));
        }
    }
}
