using AgentFlow.Secrets;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Core.Tests.Secrets;

public sealed partial class RedactingLoggerProviderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Log_MessageAndExceptionWithSecret_ReachTheSinkScrubbed(bool stackTraces)
    {
        var secrets = new SecretRedactor();
        secrets.Add("hunter2-secret");
        var sink = new Sink();
        using var provider = new RedactingLoggerProvider(sink, secrets, stackTraces);
        Exception thrown;
        try
        {
            throw new InvalidOperationException("server said: hunter2-secret");
        }
        catch (InvalidOperationException ex)
        {
            thrown = ex;
        }

        LogCallFailed(provider.CreateLogger("test"), thrown, "hunter2-secret");

        var (message, exception) = Assert.Single(sink.Entries);
        Assert.Equal("call with *** failed", message);
        Assert.DoesNotContain("hunter2-secret", exception, StringComparison.Ordinal);
        Assert.Contains("InvalidOperationException: server said: ***", exception, StringComparison.Ordinal);
        // The trace (this method's frame) only when asked for (--verbose).
        Assert.Equal(stackTraces, exception!.Contains(nameof(Log_MessageAndExceptionWithSecret_ReachTheSinkScrubbed), StringComparison.Ordinal));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "call with {Key} failed")]
    private static partial void LogCallFailed(ILogger logger, Exception exception, string key);

    /// <summary>Keeps what a logger was asked to write, as a console formatter would render it.</summary>
    private sealed class Sink : ILoggerFactory, ILogger
    {
        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public List<(string Message, string? Exception)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((formatter(state, exception), exception?.ToString()));

        public void Dispose()
        {
        }
    }
}
