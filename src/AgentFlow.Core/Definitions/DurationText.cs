using System.Globalization;

namespace AgentFlow.Definitions;

/// <summary>
/// Durations as written in workflow files and on the command line: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>7d</c>.
/// The one duration parser of the product: the workflow loader and the CLI options read durations through it.
/// </summary>
public static class DurationText
{
    /// <summary>
    /// Parses <paramref name="text"/>; a bare number means seconds. A duration longer than
    /// <see cref="WorkflowLimits.MaxDuration"/> (<c>1e300s</c>, <c>99999999999999d</c>) is read as
    /// <see cref="TimeSpan.MaxValue"/>, never an overflow, so the caller's range check reports it with its range.
    /// </summary>
    /// <returns>False when the text is not a duration at all, or is negative.</returns>
    public static bool TryParse(string text, out TimeSpan value)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal)
            ? (text[..^2], 0.001)
            : text.Length > 0 && char.IsLetter(text[^1])
                ? (text[..^1], text[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => double.NaN })
                : (text, 1.0);
        if (!double.IsNaN(unit) && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            // amount is never NaN here (NaN >= 0 is false); infinity and huge finite values saturate.
            var seconds = amount * unit;
            value = seconds > WorkflowLimits.MaxDuration.TotalSeconds ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds);
            return true;
        }

        value = TimeSpan.Zero;
        return false;
    }

    /// <summary>Parses <paramref name="text"/> and accepts it only from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static bool TryParse(string text, TimeSpan min, TimeSpan max, out TimeSpan value) =>
        TryParse(text, out value) && value >= min && value <= max;

    /// <summary>"from 10ms to 1d", for messages.</summary>
    public static string Range(TimeSpan min, TimeSpan max) => $"from {Format(min)} to {Format(max)}";

    /// <summary>The shortest way to write <paramref name="value"/> in this syntax when it is a whole number of one unit (<c>366d</c>, <c>10ms</c>).</summary>
    public static string Format(TimeSpan value) => value.Ticks switch
    {
        0 => "0s",
        var t when t % TimeSpan.TicksPerDay == 0 => $"{t / TimeSpan.TicksPerDay}d",
        var t when t % TimeSpan.TicksPerHour == 0 => $"{t / TimeSpan.TicksPerHour}h",
        var t when t % TimeSpan.TicksPerMinute == 0 => $"{t / TimeSpan.TicksPerMinute}m",
        var t when t % TimeSpan.TicksPerSecond == 0 => $"{t / TimeSpan.TicksPerSecond}s",
        _ => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds}ms"),
    };
}
