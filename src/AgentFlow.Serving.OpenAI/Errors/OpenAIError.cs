using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Serving.OpenAI.Errors;

/// <summary>
/// An error as OpenAI sends it: <c>{"error":{"message","type","param","code"}}</c> with an HTTP status. Clients (the
/// official SDKs) map the status to their error classes and retry only 408, 409, 429 and 5xx, so a client mistake must
/// never be a 5xx.
/// </summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Message">What went wrong and what to change.</param>
/// <param name="Type">OpenAI's error type: <c>invalid_request_error</c> or <c>server_error</c>.</param>
/// <param name="Param">The request field at fault (e.g. <c>messages[0].content</c>), when one is.</param>
/// <param name="Code">A machine-readable code (<c>model_not_found</c>, <c>context_length_exceeded</c>, …), when one applies.</param>
public sealed record OpenAIError(int Status, string Message, string Type, string? Param = null, string? Code = null)
{
    /// <summary>A 400 for a request the client has to change.</summary>
    public static OpenAIError InvalidRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    /// <summary>
    /// The one error answered for several problems: OpenAI names the first field at fault and lists the others in
    /// its message.
    /// </summary>
    public static OpenAIError Combine(IReadOnlyList<OpenAIError> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        return problems.Count == 1
            ? problems[0]
            : problems[0] with { Message = string.Create(CultureInfo.InvariantCulture, $"{problems.Count} problems: {string.Join("; ", problems.Select(p => p.Message))}") };
    }

    /// <summary>The error object, as the body of a response or the data of a stream event.</summary>
    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = Type, ["param"] = Param, ["code"] = Code },
    };

    /// <summary>Writes the error as the response (status and JSON body); the response must not have started.</summary>
    public Task WriteAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Response.StatusCode = Status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(ToJson().ToJsonString(), http.RequestAborted);
    }
}
