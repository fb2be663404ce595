using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Tracking.MLflow;

namespace AgentFlow.Tracking.MLflow.Tests;

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "agentflow-mlflow-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Stores
{
    /// <summary>An embedded store in <paramref name="folder"/> at the default URI, with a fixed user and environment.</summary>
    public static MlflowSqliteStore Sqlite(TempFolder folder, string uri = MlflowStoreFactory.DefaultTrackingUri) =>
        (MlflowSqliteStore)MlflowStoreFactory.Create(uri, new MlflowStoreOptions
        {
            WorkingDirectory = folder.Path,
            Environment = new Dictionary<string, string>(),
            User = "tester",
        });
}

/// <summary>A request the fake server received.</summary>
internal sealed record RecordedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public string? QueryValue(string name)
    {
        foreach (var pair in Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            if (Uri.UnescapeDataString(parts[0]) == name)
            {
                return parts.Length > 1 ? Uri.UnescapeDataString(parts[1].Replace('+', ' ')) : string.Empty;
            }
        }

        return null;
    }
}

/// <summary>A canned answer.</summary>
internal sealed record CannedResponse(int Status, string Body = "{}", string ContentType = "application/json", IReadOnlyDictionary<string, string>? Headers = null)
{
    public static CannedResponse Json(string body) => new(200, body);

    public static CannedResponse Error(int status, string code, string message) =>
        new(status, new JsonObject { ["error_code"] = code, ["message"] = message }.ToJsonString());
}

/// <summary>
/// An MLflow stand-in on 127.0.0.1 and a free port (System.Net.HttpListener): records every request and answers with the
/// handler's response.
/// </summary>
internal sealed class FakeMlflowServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<RecordedRequest, CannedResponse> _handler;
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();

    public FakeMlflowServer(Func<RecordedRequest, CannedResponse> handler)
    {
        _handler = handler;
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            try
            {
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
                _listener.Start();
                Uri = $"http://127.0.0.1:{port}";
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public string Uri { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public List<RecordedRequest> All => [.. Requests];

    /// <summary>A store at this server with fast retries and the given environment.</summary>
    public MlflowRestStore Store(Dictionary<string, string>? environment = null, int maxRetries = 3) =>
        (MlflowRestStore)MlflowStoreFactory.Create(Uri, new MlflowStoreOptions
        {
            Environment = environment ?? new Dictionary<string, string>(),
            User = "tester",
            MaxRetries = maxRetries,
            RetryBaseDelay = TimeSpan.FromMilliseconds(5),
            RetryMaxDelay = TimeSpan.FromMilliseconds(50),
            RequestTimeout = TimeSpan.FromSeconds(10),
        });

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string? name in context.Request.Headers.AllKeys)
            {
                if (name is not null)
                {
                    headers[name] = context.Request.Headers[name] ?? string.Empty;
                }
            }

            var url = context.Request.Url!;
            var recorded = new RecordedRequest(context.Request.HttpMethod, url.AbsolutePath, url.Query, headers, body.ToArray());
            Requests.Enqueue(recorded);
            CannedResponse response;
            try
            {
                response = _handler(recorded);
            }
            catch (Exception e)
            {
                response = CannedResponse.Error(500, "INTERNAL_ERROR", "test handler failed: " + e.Message);
            }

            var bytes = Encoding.UTF8.GetBytes(response.Body);
            context.Response.StatusCode = response.Status;
            context.Response.ContentType = response.ContentType;
            foreach (var (name, value) in response.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }
}

/// <summary>
/// A fact that runs only against a real MLflow tracking server named by MLFLOW_TEST_URI; otherwise it is reported as skipped.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class MlflowServerFactAttribute : FactAttribute
{
    public const string Variable = "MLFLOW_TEST_URI";

    public MlflowServerFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = "set MLFLOW_TEST_URI to run against a real MLflow server";
        }
    }
}
