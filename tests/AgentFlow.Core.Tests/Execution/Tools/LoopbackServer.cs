using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AgentFlow.Core.Tests.Execution.Tools;

/// <summary>
/// A real HTTP server on a random loopback port (HttpListener) answering with a handler per request; records every
/// request it got, so tests see exactly what a tool sent.
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerRequest, (int Status, string Body, IReadOnlyDictionary<string, string>? Headers)> _handler;
    private readonly Task _loop;

    public LoopbackServer(Func<HttpListenerRequest, (int Status, string Body, IReadOnlyDictionary<string, string>? Headers)> handler)
    {
        _handler = handler;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Each request: method, raw path and query, headers, body.</summary>
    public ConcurrentQueue<(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string Body)> Requests { get; } = new();

    /// <summary>The order service of the examples: GET /orders/{id} answers a small JSON order, 404 for unknown ids.</summary>
    public static LoopbackServer Orders() => new(request =>
    {
        var path = request.Url!.AbsolutePath;
        if (request.HttpMethod == "GET" && path.StartsWith("/orders/", StringComparison.Ordinal))
        {
            var id = Uri.UnescapeDataString(path["/orders/".Length..]);
            return id.StartsWith("A-", StringComparison.Ordinal)
                ? (200, $$"""{"order_id":"{{id}}","status":"shipped","total":42.5}""", null)
                : (404, $$"""{"error":"no order {{id}}"}""", null);
        }

        return (404, "not found", null);
    });

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers.AllKeys.OfType<string>().ToDictionary(k => k, k => context.Request.Headers[k] ?? string.Empty, StringComparer.OrdinalIgnoreCase);
            Requests.Enqueue((context.Request.HttpMethod, context.Request.RawUrl ?? string.Empty, headers, body));
            var (status, text, extra) = _handler(context.Request);
            context.Response.StatusCode = status;
            foreach (var (name, value) in extra ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            var bytes = Encoding.UTF8.GetBytes(text);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
