using Microsoft.Extensions.Logging;

namespace AgentFlow.Memory;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Opened conversation store {DatabasePath}")]
    public static partial void SqliteOpened(ILogger logger, string databasePath);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Removed {Count} expired conversation(s) from {DatabasePath}")]
    public static partial void SqlitePurged(ILogger logger, int count, string databasePath);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Appended turn {TurnId} to conversation {ConversationId} at {Sequence}")]
    public static partial void TurnAppended(ILogger logger, string conversationId, string turnId, long sequence);
}
