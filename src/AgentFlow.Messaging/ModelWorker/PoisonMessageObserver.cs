using MassTransit;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>Logs every message of a model endpoint that MassTransit moves to the error queue (unreadable or rejected).</summary>
internal sealed class PoisonMessageObserver(ILogger logger) : IReceiveObserver
{
    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class
    {
        // A shutdown cancellation is not a fault: the message goes back to the queue.
        if ((exception is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested) && IsModelQueue(context.ReceiveContext.InputAddress, out var queue))
        {
            MessagingLog.MessageFaulted(logger, context.MessageId, typeof(T).Name, queue, exception.Message);
        }

        return Task.CompletedTask;
    }

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        if ((exception is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested) && IsModelQueue(context.InputAddress, out var queue))
        {
            var messageId = context.TransportHeaders.TryGetHeader("MessageId", out var id) && Guid.TryParse(id?.ToString(), out var g) ? g : (Guid?)null;
            MessagingLog.MessageFaulted(logger, messageId, context.ContentType?.MediaType ?? "unknown", queue, exception.GetBaseException().Message);
        }

        return Task.CompletedTask;
    }

    private static bool IsModelQueue(Uri? address, out string queue)
    {
        queue = address?.AbsolutePath is { } path ? path[(path.LastIndexOf('/') + 1)..] : string.Empty;
        return queue.StartsWith(Contracts.ModelQueues.Prefix, StringComparison.Ordinal);
    }
}
