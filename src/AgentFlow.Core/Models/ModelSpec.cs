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
    /// <summary>What the model costs (any provider); null when the registry gives no price.</summary>
    public ModelPrice? Price { get; init; }

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

        return double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new ModelConfigurationException(
                $"{s.Location}: model '{Name}': '{key}' must be a number, got '{s.Value}'.");
    }

    /// <summary>Where a setting is written, or the model's own location when it is absent.</summary>
    public SourceLocation LocationOf(string key) => Settings.TryGetValue(key, out var s) ? s.Location : Location;

    /// <summary>
    /// Resolves a file setting of this model (<c>path</c>): <c>~</c> is the home folder; a relative path is relative to
    /// the folder of the config file that declared the model (the working directory for built-in or environment models).
    /// </summary>
    public string ResolvePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var expanded = DataDirectories.ExpandHome(path);
        if (System.IO.Path.IsPathRooted(expanded))
        {
            return System.IO.Path.GetFullPath(expanded);
        }

        var configFile = Location.File;
        var baseDirectory = string.IsNullOrEmpty(configFile) || configFile.StartsWith('<') || configFile.StartsWith('$')
            ? Environment.CurrentDirectory
            : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(configFile)) ?? Environment.CurrentDirectory;
        return System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, expanded));
    }
}

/// <summary>A provider setting's text and where it is written.</summary>
/// <param name="Value">The value as text.</param>
/// <param name="Location">Where it is written.</param>
public sealed record ModelSetting(string Value, SourceLocation Location);

/// <summary>
/// A model's price, from the registry's flat settings: <c>price_input_per_mtok</c> and <c>price_output_per_mtok</c>
/// (USD per million tokens, remote models) and/or <c>hourly_cost</c> (USD per hour of local hardware, charged for the
/// time a step keeps the model busy — so the cost per token follows the measured throughput).
/// </summary>
/// <param name="InputPerMillionTokens">USD per million prompt tokens.</param>
/// <param name="OutputPerMillionTokens">USD per million generated tokens.</param>
/// <param name="HourlyCost">USD per hour of the hardware running the model.</param>
public sealed record ModelPrice(double InputPerMillionTokens, double OutputPerMillionTokens, double HourlyCost)
{
    /// <summary>Registry settings that make up a price (never passed on to providers).</summary>
    public static IReadOnlyList<string> SettingKeys { get; } = ["price_input_per_mtok", "price_output_per_mtok", "hourly_cost"];

    /// <summary>Cost in USD of one model call.</summary>
    public double CostOf(int inputTokens, int outputTokens, double latencyMs) =>
        (inputTokens * InputPerMillionTokens / 1_000_000) + (outputTokens * OutputPerMillionTokens / 1_000_000) + (HourlyCost * latencyMs / 3_600_000);
}
