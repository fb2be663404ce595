using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentFlow.Server.Dashboard;

/// <summary>
/// The web dashboard of <c>agentflow serve</c>: three static files (index.html, app.js, app.css) embedded in the
/// server assembly and served at <c>/</c> and <c>/assets/…</c>. Plain JavaScript against the HTTP API; no build step, no
/// network at run time.
/// </summary>
internal static class DashboardEndpoints
{
    private const string ResourcePrefix = "Dashboard/";

    // A strict policy: only this origin's script, style and API; no inline script, no frames.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly Lazy<Assets> Files = new(Assets.Load);

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext http) => Serve(http, Files.Value.Index, "no-cache"));
        app.MapGet("/index.html", (HttpContext http) => Serve(http, Files.Value.Index, "no-cache"));
        app.MapGet("/assets/{name}", (string name, HttpContext http) =>
            Files.Value.Static.TryGetValue(name, out var file)
                ? Serve(http, file, "public, max-age=31536000, immutable")
                : Results.Problem(statusCode: 404, title: "not found", detail: $"no dashboard asset '{name}'"));
        return app;
    }

    private static IResult Serve(HttpContext http, Asset file, string cacheControl)
    {
        var headers = http.Response.Headers;
        headers.CacheControl = cacheControl;
        headers.ETag = file.ETag;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers["Referrer-Policy"] = "no-referrer";
        if (http.Request.Headers.IfNoneMatch.ToString() == file.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(file.Content, file.ContentType);
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);

    private sealed record Assets(Asset Index, FrozenDictionary<string, Asset> Static)
    {
        public static Assets Load()
        {
            var statics = new Dictionary<string, Asset>(StringComparer.Ordinal);
            foreach (var (name, type) in new[] { ("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8") })
            {
                statics[name] = Create(Read(name), type);
            }

            // index.html names the assets with their content hash, so they can be cached for good and still change.
            var index = Encoding.UTF8.GetString(Read("index.html"));
            foreach (var (name, asset) in statics)
            {
                index = index.Replace($"/assets/{name}\"", $"/assets/{name}?v={asset.ETag.Trim('"')}\"", StringComparison.Ordinal);
            }

            return new Assets(Create(Encoding.UTF8.GetBytes(index), "text/html; charset=utf-8"), statics.ToFrozenDictionary(StringComparer.Ordinal));
        }

        private static Asset Create(byte[] content, string type) =>
            new(content, type, $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"");

        private static byte[] Read(string name)
        {
            using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream(ResourcePrefix + name)
                ?? throw new InvalidOperationException($"the dashboard asset {name} is not embedded in the server assembly");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }
}
