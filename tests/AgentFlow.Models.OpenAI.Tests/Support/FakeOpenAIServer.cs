using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AgentFlow.Models.OpenAI.Tests.Support;

/// <summary>One HTTP request as the fake server received it.</summary>
internal sealed record RecordedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>A canned answer: status, content type and body.</summary>
internal sealed record CannedResponse(int Status, string ContentType, string Body);

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (an ephemeral port, plain <see cref="TcpListener"/>, one request per
/// connection) that records every request and answers POST /v1/chat/completions with a canned response.
/// </summary>
internal sealed class FakeOpenAIServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<RecordedRequest, CannedResponse> _respond;
    private readonly Task _loop;

    public FakeOpenAIServer(Func<RecordedRequest, CannedResponse> respond)
    {
        _respond = respond;
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public FakeOpenAIServer(string json)
        : this(_ => new CannedResponse(200, "application/json", json))
    {
    }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The base URL a client is configured with, e.g. http://127.0.0.1:41234/v1.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/v1";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        try
        {
            var request = await ReadRequestAsync(stream, _stop.Token);
            Requests.Enqueue(request);
            var response = request.Method == "POST" && request.Path == "/v1/chat/completions"
                ? _respond(request)
                : new CannedResponse(404, "application/json", """{"error":{"message":"not found","type":"invalid_request_error"}}""");
            var body = Encoding.UTF8.GetBytes(response.Body);
            var head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {response.Status.ToString(CultureInfo.InvariantCulture)} {(response.Status == 200 ? "OK" : "Error")}\r\n"
                + $"Content-Type: {response.ContentType}\r\nContent-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(head, _stop.Token);
            await stream.WriteAsync(body, _stop.Token);
            await stream.FlushAsync(_stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
        {
            // The client went away or the server is stopping.
        }
    }

    private static async Task<RecordedRequest> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var reader = new ByteReader(stream);
        var requestLine = await reader.ReadLineAsync(cancellationToken);
        var parts = requestLine.Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var line = await reader.ReadLineAsync(cancellationToken); line.Length > 0; line = await reader.ReadLineAsync(cancellationToken))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        byte[] body;
        if (headers.TryGetValue("Content-Length", out var length))
        {
            body = await reader.ReadExactlyAsync(int.Parse(length, CultureInfo.InvariantCulture), cancellationToken);
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var all = new MemoryStream();
            while (true)
            {
                var size = int.Parse((await reader.ReadLineAsync(cancellationToken)).Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    await reader.ReadLineAsync(cancellationToken);
                    break;
                }

                all.Write(await reader.ReadExactlyAsync(size, cancellationToken));
                await reader.ReadLineAsync(cancellationToken);
            }

            body = all.ToArray();
        }
        else
        {
            body = [];
        }

        return new RecordedRequest(parts[0], parts[1], headers, Encoding.UTF8.GetString(body));
    }

    /// <summary>Buffered reads of lines and fixed-size blocks from a stream.</summary>
    private sealed class ByteReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new List<byte>();
            while (true)
            {
                var b = await ReadByteAsync(cancellationToken);
                if (b == '\n')
                {
                    if (line.Count > 0 && line[^1] == '\r')
                    {
                        line.RemoveAt(line.Count - 1);
                    }

                    return Encoding.ASCII.GetString([.. line]);
                }

                line.Add(b);
            }
        }

        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            var result = new byte[count];
            for (var i = 0; i < count; i++)
            {
                result[i] = await ReadByteAsync(cancellationToken);
            }

            return result;
        }

        private async ValueTask<byte> ReadByteAsync(CancellationToken cancellationToken)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await stream.ReadAsync(_buffer, cancellationToken);
                if (_end == 0)
                {
                    throw new IOException("connection closed in the middle of a request");
                }
            }

            return _buffer[_start++];
        }
    }
}
