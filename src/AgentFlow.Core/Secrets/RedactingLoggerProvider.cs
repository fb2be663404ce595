using Microsoft.Extensions.Logging;

namespace AgentFlow.Secrets;

/// <summary>
/// Logs through the loggers of another factory (e.g. the console) with every message and exception text scrubbed
/// by a <see cref="SecretRedactor"/> first, so no sink behind it ever sees a secret.
/// </summary>
/// <param name="inner">The factory whose loggers write; disposed with this provider.</param>
/// <param name="secrets">The secrets to scrub.</param>
/// <param name="stackTraces">
/// Whether an exception is written with its stack trace (<c>--verbose</c>); when false only its type and message
/// are written: a routine failure (a model server answering 500) is one line, not a trace.
/// </param>
public sealed class RedactingLoggerProvider(ILoggerFactory inner, SecretRedactor secrets, bool stackTraces) : ILoggerProvider
{
    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new RedactingLogger(inner.CreateLogger(categoryName), secrets, stackTraces);

    /// <inheritdoc />
    public void Dispose() => inner.Dispose();

    private sealed class RedactingLogger(ILogger inner, SecretRedactor secrets, bool stackTraces) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }

            var message = secrets.Redact(formatter(state, exception));
            var scrubbed = exception is null ? null : new RedactedException(exception, secrets, stackTraces);
            inner.Log(logLevel, eventId, message, scrubbed, static (text, _) => text);
        }
    }

    /// <summary>Stands in for a logged exception: what it prints is the original's text, scrubbed (and without the trace unless asked).</summary>
    private sealed class RedactedException(Exception original, SecretRedactor secrets, bool stackTrace)
        : Exception(secrets.Redact(original.Message))
    {
        public override string? StackTrace => stackTrace ? secrets.Redact(original.StackTrace) : null;

        public override string ToString() => stackTrace
            ? secrets.Redact(original.ToString())
            : $"{original.GetType().FullName}: {Message}";
    }
}
