using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentFlow.Memory.Redis;

internal static partial class Log
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Conversation store connected to Redis {Endpoints}")]
    public static partial void Connected(ILogger logger, string endpoints);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Conversation store lost Redis {Endpoint} ({FailureType}); StackExchange.Redis reconnects in the background")]
    public static partial void ConnectionFailed(ILogger logger, string endpoint, ConnectionFailureType failureType);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Conversation store reconnected to Redis {Endpoint}")]
    public static partial void ConnectionRestored(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Appended turn {TurnId} to {Key} at {Sequence}")]
    public static partial void TurnAppended(ILogger logger, string key, string turnId, long sequence);
}
