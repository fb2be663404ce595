namespace AgentFlow.Messaging.Contracts;

/// <summary>Queue names shared by workers and the orchestrator.</summary>
public static class ModelQueues
{
    /// <summary>Prefix of every model queue.</summary>
    public const string Prefix = "agentflow.model.";

    /// <summary>
    /// The queue the steps of <paramref name="model"/> are sent to: <c>agentflow.model.NAME</c>. Every worker hosting
    /// the model consumes from it (competing consumers), so a step only reaches a worker that has its model.
    /// Poison messages go to <c>agentflow.model.NAME_error</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or has characters a queue name cannot have.</exception>
    public static string For(string model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        foreach (var c in model)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new ArgumentException($"model name '{model}' has '{c}': use letters, digits, '-', '_' and '.'", nameof(model));
            }
        }

        return Prefix + model;
    }
}
