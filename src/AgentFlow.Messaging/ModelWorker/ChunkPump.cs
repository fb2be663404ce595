using System.Text;
using AgentFlow.Messaging.Contracts;
using MassTransit;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// Sends generated text to the requester without slowing the model: text produced while a chunk is being sent is
/// coalesced into the next chunk. Chunks leave in sequence order, one send at a time.
/// </summary>
internal sealed class ChunkPump(ISendEndpoint? endpoint, Guid requestId, string workerId, Guid deliveryId, CancellationToken cancellationToken)
{
    private readonly Lock _gate = new();
    private readonly StringBuilder _pending = new();
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

    public void Add(string text)
    {
        if (endpoint is null || text.Length == 0)
        {
            return;
        }

        lock (_gate)
        {
            _pending.Append(text);
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
