namespace AgentFlow.Models;

/// <summary>
/// Counts tokens with a model's own tokenizer (a chat client exposes it through <c>GetService</c>), so memory windows
/// measured in tokens match what the model will see rather than a characters/4 guess.
/// </summary>
public interface ITokenCounter
{
    /// <summary>Tokens <paramref name="text"/> takes for this model.</summary>
    int CountTokens(string text);
}
