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
    public static string For(string model) => Prefix + Checked(model, "model", nameof(model));

    /// <summary>Prefix of every embedder queue.</summary>
    public const string EmbedderPrefix = "agentflow.embedder.";

    /// <summary>
    /// The queue the embedding requests of <paramref name="embedder"/> are sent to: <c>agentflow.embedder.NAME</c>
    /// (competing consumers, like model queues; poison messages go to <c>agentflow.embedder.NAME_error</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or has characters a queue name cannot have.</exception>
    public static string ForEmbedder(string embedder) => EmbedderPrefix + Checked(embedder, "embedder", nameof(embedder));

    private static string Checked(string name, string kind, string parameter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name, parameter);
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new ArgumentException($"{kind} name '{name}' has '{c}': use letters, digits, '-', '_' and '.'", parameter);
            }
        }

        return name;
    }
}
