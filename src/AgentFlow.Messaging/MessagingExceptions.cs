namespace AgentFlow.Messaging;

/// <summary>Messaging options or registration are invalid; the message lists every problem.</summary>
public sealed class MessagingConfigurationException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public MessagingConfigurationException(string message) : base(message) { }
}

/// <summary>A model call sent to a worker failed; <see cref="Model"/> and, when known, <see cref="WorkerId"/> say where.</summary>
public class RemoteModelException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public RemoteModelException(string model, string? workerId, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Model = model;
        WorkerId = workerId;
    }

    /// <summary>The model that was called.</summary>
    public string Model { get; }

    /// <summary>The worker that took the call, when one did.</summary>
    public string? WorkerId { get; }
}

/// <summary>No worker consumes the model's queue, so the call would wait for nothing.</summary>
public sealed class NoWorkerException : RemoteModelException
{
    /// <summary>Creates the exception; its message starts with <c>no worker serves model 'NAME'</c>.</summary>
    public NoWorkerException(string model, string hint)
        : base(model, null, $"no worker serves model '{model}'; {hint}")
    {
    }

    /// <summary>Creates the exception for an embedder; its message starts with <c>no worker serves embedder 'NAME'</c>.</summary>
    /// <param name="embedder">The embedder's registry name (also <see cref="RemoteModelException.Model"/>).</param>
    /// <param name="hint">What to do.</param>
    /// <param name="isEmbedder">Distinguishes this overload; the message names an embedder.</param>
    public NoWorkerException(string embedder, string hint, bool isEmbedder)
        : base(embedder, null, $"no worker serves {(isEmbedder ? "embedder" : "model")} '{embedder}'; {hint}")
    {
    }
}

/// <summary>The model did not answer in time (queueing included).</summary>
public sealed class RemoteModelTimeoutException : RemoteModelException
{
    /// <summary>Creates the exception.</summary>
    public RemoteModelTimeoutException(string model, string? workerId, TimeSpan timeout, Exception? innerException = null)
        : base(model, workerId, Describe(model, workerId, timeout), innerException)
    {
        Timeout = timeout;
    }

    /// <summary>The time allowed.</summary>
    public TimeSpan Timeout { get; }

    private static string Describe(string model, string? workerId, TimeSpan timeout)
    {
        var seconds = timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        return workerId is null
            ? $"model '{model}' did not answer within {seconds} s: no worker took the step (all busy or too slow to start); raise the timeout or add workers for '{model}'"
            : $"model '{model}' on worker '{workerId}' did not finish within {seconds} s; raise the timeout or lower max_tokens";
    }
}

/// <summary>The worker took the call but the model failed, or the worker rejected the request as malformed.</summary>
public sealed class RemoteModelFaultException : RemoteModelException
{
    /// <summary>Creates the exception.</summary>
    public RemoteModelFaultException(string model, string? workerId, string errorType, string detail, Exception? innerException = null)
        : base(model, workerId, $"model '{model}' failed on worker '{workerId ?? "unknown"}': {detail}", innerException)
    {
        ErrorType = errorType;
    }

    /// <summary>Short type name of the worker-side error.</summary>
    public string ErrorType { get; }
}
