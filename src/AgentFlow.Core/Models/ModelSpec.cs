using System.Globalization;
using AgentFlow.Diagnostics;

namespace AgentFlow.Models;

/// <summary>One model as the registry (<c>agentflow.yaml</c>) names it: a provider and its settings.</summary>
/// <param name="Name">Registry name, bound to aliases (<c>writer: qwen</c>, <c>--bind writer=qwen</c>).</param>
/// <param name="Provider">Provider name: <c>builtin</c>, <c>llama</c>, <c>openai</c>.</param>
/// <param name="Settings">Provider settings as written (snake_case keys), each with its location.</param>
/// <param name="Location">Where the model is declared (or the built-in default's pseudo location).</param>
public sealed record ModelSpec(
    string Name,
    string Provider,
    IReadOnlyDictionary<string, ModelSetting> Settings,
    SourceLocation Location)
{
    /// <summary>A setting's text, or null when absent.</summary>
    public string? GetString(string key) => Settings.TryGetValue(key, out var s) ? s.Value : null;

    /// <summary>A setting parsed as an integer, or <paramref name="fallback"/> when absent.</summary>
    /// <exception cref="ModelConfigurationException">The value is not an integer.</exception>
    public int GetInt(string key, int fallback)
    {
        if (!Settings.TryGetValue(key, out var s))
        {
            return fallback;
        }

        return int.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ModelConfigurationException(
                $"{s.Location}: model '{Name}': '{key}' must be an integer, got '{s.Value}'.");
    }

    /// <summary>A setting parsed as a number, or <paramref name="fallback"/> when absent.</summary>
    /// <exception cref="ModelConfigurationException">The value is not a number.</exception>
    public double GetDouble(string key, double fallback)
    {
        if (!Settings.TryGetValue(key, out var s))
        {
            return fallback;
        }

        return double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ModelConfigurationException(
                $"{s.Location}: model '{Name}': '{key}' must be a number, got '{s.Value}'.");
    }

    /// <summary>Where a setting is written, or the model's own location when it is absent.</summary>
    public SourceLocation LocationOf(string key) => Settings.TryGetValue(key, out var s) ? s.Location : Location;
}

/// <summary>A provider setting's text and where it is written.</summary>
/// <param name="Value">The value as text.</param>
/// <param name="Location">Where it is written.</param>
public sealed record ModelSetting(string Value, SourceLocation Location);
