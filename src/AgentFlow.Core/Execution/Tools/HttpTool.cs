using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// Opens <c>http:</c> tools: each call renders the URL (arguments URL-encoded) and body templates over <c>args</c> and
/// <c>inputs</c>, calls only the URL's own host (redirects followed only on that host), adds headers from environment
/// variables named in the file, and reads at most <see cref="HttpToolSource.MaxResponseBytes"/> within the tool's timeout.
/// </summary>
public sealed class HttpToolProvider : IToolProvider, IDisposable
{
    /// <summary>Most redirects followed (on the same host).</summary>
    public const int MaxRedirects = 5;

    private readonly HttpClient _http;

    /// <summary>Creates the provider with its own connection pool (redirects handled here, never by the handler).</summary>
    public HttpToolProvider()
    {
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each tool's own timeout applies
        };
    }

    /// <inheritdoc />
    public string Kind => "http";

    /// <inheritdoc />
    public Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(context);
        var source = (HttpToolSource)tool.Source;
        var missing = source.Headers.Values.Where(v => Environment.GetEnvironmentVariable(v) is null).ToList();
        if (missing.Count > 0)
        {
            throw new ToolUnavailableException($"tool '{tool.Name}': environment variable {string.Join(", ", missing)} (a header of the tool) is not set; export it before the run");
        }

        return Task.FromResult(new ToolHandle([new HttpFunction(tool, source, context, _http)]));
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private sealed class HttpFunction(ToolDefinition tool, HttpToolSource source, ToolOpenContext context, HttpClient http) : AIFunction
    {
        private readonly LiquidTemplate _url = LiquidTemplate.Compile(source.Url);
        private readonly LiquidTemplate? _body = source.Body is null ? null : LiquidTemplate.Compile(source.Body);

        public override string Name => tool.Name;

        public override string Description => tool.Description ?? string.Empty;

        public override JsonElement JsonSchema { get; } = JsonSerializer.SerializeToElement(tool.Parameters ?? new JsonObject { ["type"] = "object" });

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            var args = ToolArguments.ToJson(arguments);
            var url = await RenderUrlAsync(args, cancellationToken).ConfigureAwait(false);

            // The host the file fixes: the URL rendered with placeholder arguments. Arguments may change the path only.
            var placeholders = new JsonObject(args.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create("0"))));
            var declared = await RenderUrlAsync(placeholders, cancellationToken).ConfigureAwait(false);
            if (!SameOrigin(url, declared))
            {
                throw new InvalidOperationException($"the arguments change the host of tool '{tool.Name}' ({url.Authority}); only {declared.Authority} may be called");
            }

            string? body = null;
            if (_body is not null)
            {
                body = await _body.RenderAsync(new TemplateScope(context.Inputs, new Dictionary<string, StepOutput>(), null) { Args = args }, cancellationToken).ConfigureAwait(false);
            }
            else if (source.Method is "POST" or "PUT" or "PATCH")
            {
                body = args.ToJsonString();
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(source.Timeout);
            try
            {
                return await SendAsync(url, body, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"tool '{tool.Name}' did not answer within {source.Timeout.TotalSeconds:0.###} s");
            }
        }

        private async Task<Uri> RenderUrlAsync(JsonObject args, CancellationToken cancellationToken)
        {
            var text = await _url.RenderAsync(new TemplateScope(context.Inputs, new Dictionary<string, StepOutput>(), null) { Args = args, EncodeArgs = true }, cancellationToken).ConfigureAwait(false);
            if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new InvalidOperationException($"the url of tool '{tool.Name}' rendered to '{text}', which is not an absolute http(s) URL");
            }

            return uri;
        }

        private async Task<string> SendAsync(Uri url, string? body, CancellationToken cancellationToken)
        {
            var origin = url;
            for (var redirects = 0; ; redirects++)
            {
                using var request = new HttpRequestMessage(new HttpMethod(source.Method), url);
                foreach (var (header, variable) in source.Headers)
                {
                    request.Headers.TryAddWithoutValidation(header, Environment.GetEnvironmentVariable(variable));
                }

                if (body is not null)
                {
                    request.Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue(body.TrimStart().StartsWith('{') || body.TrimStart().StartsWith('[') ? "application/json" : "text/plain"));
                }

                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(url, location);
                    if (!SameOrigin(next, origin))
                    {
                        throw new InvalidOperationException($"tool '{tool.Name}' was redirected to another host ({next.Authority}); only {origin.Authority} may be called");
                    }

                    if (redirects >= MaxRedirects)
                    {
                        throw new InvalidOperationException($"tool '{tool.Name}' was redirected more than {MaxRedirects} times");
                    }

                    url = next;
                    continue;
                }

                var text = await ReadCappedAsync(response.Content, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {Shorten(text)}", null, response.StatusCode);
                }

                return text;
            }
        }

        private async Task<string> ReadCappedAsync(HttpContent content, CancellationToken cancellationToken)
        {
            if (content.Headers.ContentLength > source.MaxResponseBytes)
            {
                throw new InvalidOperationException($"the response of tool '{tool.Name}' is {content.Headers.ContentLength} bytes, more than its max_response_bytes ({source.MaxResponseBytes})");
            }

            await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[source.MaxResponseBytes + 1];
            var read = 0;
            while (read < buffer.Length && await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false) is var n and > 0)
            {
                read += n;
            }

            if (read > source.MaxResponseBytes)
            {
                throw new InvalidOperationException($"the response of tool '{tool.Name}' is longer than its max_response_bytes ({source.MaxResponseBytes})");
            }

            return Encoding.UTF8.GetString(buffer, 0, read);
        }

        private static bool SameOrigin(Uri a, Uri b) =>
            string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

        private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";
    }
}

/// <summary>Tool arguments as JSON.</summary>
public static class ToolArguments
{
    /// <summary>The arguments of a call as a JSON object (values the model sent are JSON elements already).</summary>
    public static JsonObject ToJson(IEnumerable<KeyValuePair<string, object?>> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var result = new JsonObject();
        foreach (var (name, value) in arguments)
        {
            result[name] = value switch
            {
                null => null,
                JsonNode node => node.DeepClone(),
                JsonElement element => JsonNode.Parse(element.GetRawText()),
                _ => JsonSerializer.SerializeToNode(value, AIJsonUtilities.DefaultOptions),
            };
        }

        return result;
    }
}
