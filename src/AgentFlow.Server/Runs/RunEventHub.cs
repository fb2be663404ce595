using System.Collections.Concurrent;
using System.Threading.Channels;
using AgentFlow.Execution;

namespace AgentFlow.Server.Runs;

/// <summary>
/// Hands the events of the runs this <c>serve</c> process executes to their Server-Sent Events subscribers. A
/// subscriber that reads too slowly loses chunks, never blocks the run (bounded, drop-oldest).
/// </summary>
internal sealed class RunEventHub : IRunObserver
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Channel<RunEvent>, byte>> _subscribers = new(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, byte> _live = new(StringComparer.Ordinal);

    /// <summary>Whether this process is executing <paramref name="runId"/> right now.</summary>
    public bool IsLive(string runId) => _live.ContainsKey(runId);

    /// <inheritdoc />
    public void OnEvent(RunEvent runEvent)
    {
        switch (runEvent)
        {
            case RunStartedEvent or RunResumedEvent:
                _live[runEvent.RunId] = 0;
                break;
            case RunFinishedEvent:
                _live.TryRemove(runEvent.RunId, out _);
                break;
        }

        if (_subscribers.TryGetValue(runEvent.RunId, out var channels))
        {
            foreach (var channel in channels.Keys)
            {
                channel.Writer.TryWrite(runEvent);
            }
        }
    }

    /// <summary>Events of <paramref name="runId"/> from now on, until disposed.</summary>
    public Subscription Subscribe(string runId)
    {
        var channel = Channel.CreateBounded<RunEvent>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        _subscribers.GetOrAdd(runId, _ => new ConcurrentDictionary<Channel<RunEvent>, byte>())[channel] = 0;
        return new Subscription(channel.Reader, () =>
        {
            if (_subscribers.TryGetValue(runId, out var channels))
            {
                channels.TryRemove(channel, out _);
            }
        });
    }

    /// <summary>One subscriber's events.</summary>
    public sealed class Subscription(ChannelReader<RunEvent> reader, Action unsubscribe) : IDisposable
    {
        public ChannelReader<RunEvent> Reader { get; } = reader;

        public void Dispose() => unsubscribe();
    }
}
