using System.Text;
using AgentFlow.Messaging.Contracts;
using MassTransit;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// Sends generated text to the requester without slowing the model: text is held until <see cref="Flush"/> (the
/// model is about to wait for its next token) or until it is <see cref="MaxHold"/> old, and text produced while a
/// chunk is being sent is coalesced into the next chunk. Chunks leave in sequence order, one send at a time. Text
/// still held when the model finishes is not sent as a chunk: the response carries the whole text, so an answer
/// produced without a pause costs no chunk message at all.
/// </summary>
internal sealed class ChunkPump(ISendEndpoint? endpoint, Guid requestId, string workerId, Guid deliveryId, TimeProvider time, CancellationToken cancellationToken)
{
    /// <summary>The longest text is held before it is sent (a model that never pauses still streams).</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromMilliseconds(50);

    private readonly Lock _gate = new();
    private readonly StringBuilder _pending = new();
    private readonly StringBuilder _held = new();
    private long _heldSince;
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

    /// <summary>Sends what is held (the model is about to wait).</summary>
    public void Flush()
    {
        if (_held.Length == 0)
        {
            return;
        }

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
