using System.Text;
using LLama.Native;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Models.Llama.Hosting;

/// <summary>
/// Process-wide llama.cpp setup. llama.cpp writes its own log to stderr by default; AgentFlow routes it to an
/// <see cref="ILogger"/> at Debug level instead (or drops it), so a command's stderr stays clean. The hook is
/// installed once, before the first native call, by whichever of <see cref="UseLogger"/> or model loading comes first.
/// </summary>
public static partial class LlamaRuntime
{
    private static readonly Lock Gate = new();
    private static readonly ThreadLocal<StringBuilder> Pending = new(() => new StringBuilder());
    private static NativeLogConfig.LLamaLogCallback? _callback;
    private static volatile ILogger? _logger;

    /// <summary>Sends llama.cpp's log lines to <paramref name="logger"/> at Debug level (null drops them).</summary>
    public static void UseLogger(ILogger? logger)
    {
        _logger = logger;
        EnsureInitialized();
    }

    /// <summary>Installs the log hook if it is not installed yet. Safe to call from any thread, any number of times.</summary>
    internal static void EnsureInitialized()
    {
        if (Volatile.Read(ref _callback) is not null)
        {
            return;
        }

        lock (Gate)
        {
            if (_callback is not null)
            {
                return;
            }

            // The delegate is kept in a static field so the GC never collects what native code calls back into.
            var callback = new NativeLogConfig.LLamaLogCallback(OnNativeLog);

            // Before the native library has loaded this only records the callback (LLamaSharp installs it right
            // after loading, before llama_backend_init); afterwards it calls llama_log_set directly.
            try
            {
                NativeLogConfig.llama_log_set(callback);
            }
            catch (InvalidOperationException)
            {
                // The library finished loading between LLamaSharp's check and its configuration call; now the
                // direct path applies.
                NativeLogConfig.llama_log_set(callback);
            }

            Volatile.Write(ref _callback, callback);
        }
    }

    private static void OnNativeLog(LLamaLogLevel level, string message)
    {
        var logger = _logger;
        if (logger is null || !logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        // llama.cpp sends fragments; join them into lines.
        var builder = Pending.Value!;
        builder.Append(message);
        if (!message.EndsWith('\n'))
        {
            return;
        }

        var line = builder.ToString(0, builder.Length - 1);
        builder.Clear();
        LogNative(logger, level, line);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "llama.cpp {NativeLevel}: {Line}")]
    private static partial void LogNative(ILogger logger, LLamaLogLevel nativeLevel, string line);
}
