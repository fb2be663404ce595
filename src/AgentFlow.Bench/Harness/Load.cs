namespace AgentFlow.Bench.Harness;

/// <summary>Closed-loop load: a fixed number of lanes, each starting its next operation when the previous ends.</summary>
internal static class Load
{
    /// <summary>Runs <paramref name="total"/> operations over <paramref name="concurrency"/> lanes; returns the wall time in seconds.</summary>
    public static async Task<double> RunAsync(TimeProvider time, int concurrency, int total, Func<CancellationToken, Task> operation, CancellationToken cancellationToken)
    {
        var remaining = total;
        var start = time.GetTimestamp();
        var lanes = Enumerable.Range(0, concurrency).Select(_ => Task.Run(
            async () =>
            {
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    await operation(cancellationToken).ConfigureAwait(false);
                }
            },
            cancellationToken));
        await Task.WhenAll(lanes).ConfigureAwait(false);
        return time.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Whether a TCP connection to the broker opens within 2 s; null when it does, else why not.</summary>
    public static async Task<string?> ProbeAsync(Uri? broker, CancellationToken cancellationToken)
    {
        if (broker is null)
        {
            return $"{BenchOptions.RabbitMqVariable} is not set (e.g. amqp://guest:guest@127.0.0.1:5672/)";
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(broker.Host, broker.IsDefaultPort || broker.Port <= 0 ? 5672 : broker.Port, timeout.Token).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return $"RabbitMQ at {broker.Host}:{(broker.IsDefaultPort || broker.Port <= 0 ? 5672 : broker.Port)} is unreachable ({ex.Message})";
        }
    }
}
