using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace AgentFlow.Server.Security;

/// <summary>
/// Every security rule of the HTTP API, in the order a request meets them: no request is served until the bound
/// addresses passed <see cref="ApiSecurity.Verify"/> (503); the <c>Host</c> header must name this server (400, DNS
/// rebinding); an <c>Origin</c> must be this server's or a configured one (403, cross-site requests); with a token,
/// <c>Authorization: Bearer</c> must carry it (401); a state-changing request must be <c>application/json</c> (415,
/// which also forces browsers into a CORS preflight that the Origin rule refuses). The caller is then
/// <see cref="HttpContext.User"/>: authenticated as <see cref="ApiSecurity.TokenCaller"/> when a token is in use.
/// </summary>
internal sealed class ApiSecurityMiddleware(RequestDelegate next, ApiSecurity security)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (security.Binding is not { } binding)
        {
            return Refuse(http, StatusCodes.Status503ServiceUnavailable, "starting", "the server is checking where it listens; try again in a moment");
        }

        var request = http.Request;
        if (!binding.AcceptsHost(request.Host))
        {
            return Refuse(http, StatusCodes.Status400BadRequest, "unknown host", $"this server answers to {string.Join(", ", binding.Hosts.Order(StringComparer.Ordinal))}, not '{request.Host.Value}'");
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !binding.AcceptsOrigin(origin, request))
        {
            return Refuse(http, StatusCodes.Status403Forbidden, "foreign origin", $"requests from pages of '{origin}' are refused; serve --allow-origin adds a trusted one");
        }

        if (security.Token is { } token)
        {
            if (!Authorized(request.Headers.Authorization.ToString(), token))
            {
                return Refuse(http, StatusCodes.Status401Unauthorized, "missing or wrong bearer token", $"send 'Authorization: Bearer <{ApiSecurity.TokenVariable}>'");
            }

            http.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, ApiSecurity.TokenCaller)], "Bearer"));
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !IsJson(request.ContentType))
        {
            return Refuse(http, StatusCodes.Status415UnsupportedMediaType, "the body must be JSON", $"send 'Content-Type: application/json' with every {request.Method}");
        }

        return next(http);
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type) && type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    // Constant-time: the comparison takes as long whatever prefix of the token is right.
    private static bool Authorized(string header, string token)
    {
        const string Scheme = "Bearer ";
        var given = header.StartsWith(Scheme, StringComparison.Ordinal) ? header[Scheme.Length..] : string.Empty;
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    private static Task Refuse(HttpContext http, int status, string title, string detail) =>
        Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(http);
}
