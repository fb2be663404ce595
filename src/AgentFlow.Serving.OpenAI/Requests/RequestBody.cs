using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Serving.OpenAI.Errors;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Serving.OpenAI.Requests;

/// <summary>Reads a request's JSON object body, answering OpenAI's error itself when there is none to read.</summary>
internal static class RequestBody
{
    private static readonly JsonDocumentOptions RequestJson = new() { AllowDuplicateProperties = false };

    /// <summary>The body, or null once a 400 (not JSON, not an object, a repeated field) or 413 has been sent.</summary>
    public static async Task<JsonObject?> ReadAsync(HttpContext http)
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
}
