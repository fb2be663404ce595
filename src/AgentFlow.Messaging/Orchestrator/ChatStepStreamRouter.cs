using System.Collections.Concurrent;
using System.Threading.Channels;
using AgentFlow.Messaging.Contracts;
using MassTransit;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// Delivers the <see cref="ChatStepStarted"/> and <see cref="ChatStepChunk"/> messages that workers send to this
/// process's bus endpoint (the request's response address) to the call waiting for them, by request id.
/// </summary>
internal sealed class ChatStepStreamRouter(IBus bus)
{
    private readonly ConcurrentDictionary<Guid, Channel<object>> _calls = new();
    private readonly Lock _gate = new();
    private bool _connected;

    public ChannelReader<object> Open(Guid requestId)
    {
        EnsureConnected();
        var channel = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
        if (!_calls.TryAdd(requestId, channel))
        {
            throw new InvalidOperationException($"request {requestId} is already open");
        }

        return channel.Reader;
    }

    public void Close(Guid requestId)
    {
        if (_calls.TryRemove(requestId, out var channel))
        {
            channel.Writer.TryComplete();
        }
    }

    private void EnsureConnected()
    {
        lock (_gate)
        {
            if (_connected)
            {
                return;
            }

            // Handles on the bus endpoint live as long as the bus: connected once, never disconnected.
            _ = bus.ConnectHandler<ChatStepChunk>(context => Deliver(context.Message.RequestId, context.Message));
            _ = bus.ConnectHandler<ChatStepStarted>(context => Deliver(context.Message.RequestId, context.Message));
            _connected = true;
        }
    }

    private Task Deliver(Guid requestId, object message)
    {
        // A message for a call that already ended (timed out, cancelled) is dropped.
        if (_calls.TryGetValue(requestId, out var channel))
        {
            channel.Writer.TryWrite(message);
        }

        return Task.CompletedTask;
    }
}
