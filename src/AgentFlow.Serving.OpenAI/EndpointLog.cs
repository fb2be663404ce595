using Microsoft.Extensions.Logging;

namespace AgentFlow.Serving.OpenAI;

/// <summary>The endpoint's log messages.</summary>
internal static partial class EndpointLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "{Method} {Path} failed with an unexpected error (answered 500)")]
    public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "model '{Model}' failed while streaming (sent as an error event)")]
    public static partial void StreamFailed(ILogger logger, string model, Exception exception);
}
