using System.Text;
using AgentFlow.Messaging.Contracts;
using MassTransit;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// Sends generated text to the requester without slowing the model. Text is held while the model keeps producing
/// without a pause; when it pauses (<see cref="PauseAsync"/>), the held text leaves as one chunk, at most one chunk per
/// <see cref="Interval"/>: a fast model's tokens travel a few dozen at a time instead of one message each, a slow
/// model's (slower than one token per interval) still one by one, as soon as each arrives. Text produced while a
/// chunk is being sent is coalesced into the next one; chunks leave in sequence order, one send at a time. Text still
/// held when the model finishes is not sent as a chunk: the response carries the whole text, so an answer produced
/// without a pause costs no chunk message at all.
/// </summary>
internal sealed class ChunkPump(ISendEndpoint? endpoint, Guid requestId, string workerId, Guid deliveryId, TimeProvider time, CancellationToken cancellationToken)
{
    /// <summary>The shortest time between two chunks, and the longest text is held while the model pauses.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(25);

    /// <summary>The longest text is held while the model produces without ever pausing.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromMilliseconds(50);

    private readonly Lock _gate = new();
    private readonly StringBuilder _pending = new();
    private readonly StringBuilder _held = new();
    private long _heldSince;
    private long? _lastFlush;
    private Task _sending = Task.CompletedTask;
    private bool _running;
    private int _sequence;

    /// <summary>Chunks sent (or being sent) so far.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    /// <summary>Holds <paramref name="text"/>; sends what is held once it is <see cref="MaxHold"/> old.</summary>
    public void Add(string text)
    {
        if (endpoint is null || text.Length == 0)
        {
            return;
        }

        if (_held.Length == 0)
        {
            _heldSince = time.GetTimestamp();
        }

        _held.Append(text);
        if (time.GetElapsedTime(_heldSince) >= MaxHold)
        {
            Flush();
        }
    }

    /// <summary>
    /// Waits for <paramref name="next"/> (the model's next update, not ready yet), sending the held text once it is
    /// due: at once when the last chunk left at least <see cref="Interval"/> ago (or none has), otherwise when that
    /// interval ends, unless the next update comes first (then the text stays held and joins it).
    /// </summary>
    public async ValueTask<bool> PauseAsync(ValueTask<bool> next)
    {
        if (_held.Length == 0)
        {
            return await next.ConfigureAwait(false);
        }

        var due = _lastFlush is { } last ? Interval - time.GetElapsedTime(last) : TimeSpan.Zero;
        if (due <= TimeSpan.Zero)
        {
            Flush();
            return await next.ConfigureAwait(false);
        }

        var pending = next.AsTask();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var timer = Task.Delay(due, time, stop.Token);
        if (await Task.WhenAny(pending, timer).ConfigureAwait(false) == timer && timer.IsCompletedSuccessfully)
        {
            Flush();
        }

        await stop.CancelAsync().ConfigureAwait(false);
        return await pending.ConfigureAwait(false);
    }

    /// <summary>Sends what is held now.</summary>
    public void Flush()
    {
        if (_held.Length == 0)
        {
            return;
        }

        _lastFlush = time.GetTimestamp();
        lock (_gate)
        {
            _pending.Append(_held);
            _held.Clear();
            if (!_running)
            {
                _running = true;
                _sending = Task.Run(SendLoopAsync, CancellationToken.None);
            }
        }
    }

    /// <summary>Waits until every added text has been sent; throws what a send threw.</summary>
    public async Task CompleteAsync()
    {
        Task sending;
        lock (_gate)
        {
            sending = _sending;
        }

        await sending.ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        while (true)
        {
            string text;
            int sequence;
            lock (_gate)
            {
                if (_pending.Length == 0)
                {
                    _running = false;
                    return;
                }

                text = _pending.ToString();
                _pending.Clear();
                sequence = _sequence++;
            }

            try
            {
                await endpoint!.Send(new ChatStepChunk(requestId, sequence, text, workerId, deliveryId), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // _running stays true: no further loop starts, and CompleteAsync rethrows this failure.
                throw;
            }
        }
    }
}
