using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Execution;

/// <summary>Turns the <c>--input k=v</c> texts of a run into typed values, applying declared defaults.</summary>
public static class RunInputs
{
    /// <summary>Checks and converts <paramref name="given"/> against the workflow's declared inputs.</summary>
    /// <exception cref="InputException">Lists every unknown, missing or ill-typed input at once.</exception>
    public static IReadOnlyDictionary<string, object?> Resolve(WorkflowDefinition definition, IReadOnlyDictionary<string, string> given)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(given);
        var problems = new List<string>();
        var declared = definition.Inputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        foreach (var name in given.Keys.Where(k => !declared.ContainsKey(k)))
        {
            var near = NameSuggestion.Nearest(name, declared.Keys);
            problems.Add($"unknown input '{name}' for workflow '{definition.Name}'" +
                (near is null ? string.Empty : $"; did you mean '{near}'?") +
                (declared.Count == 0 ? " (it declares no inputs)" : $" (declared: {string.Join(", ", declared.Keys)})"));
        }

        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var input in definition.Inputs)
        {
            if (given.TryGetValue(input.Name, out var text))
            {
                if (TryConvert(input.Type, text, out var value))
                {
                    values[input.Name] = value;
                }
                else
                {
                    problems.Add($"input '{input.Name}' must be {Describe(input.Type)}, got '{text}'");
                }
            }
            else if (input.Default is not null)
            {
                values[input.Name] = TryConvert(input.Type, input.Default, out var value) ? value : input.Default;
            }
            else if (input.Required)
            {
                problems.Add($"missing required input '{input.Name}'; pass --input {input.Name}=VALUE");
            }
            else
            {
                values[input.Name] = null;
            }
        }

        return problems.Count > 0 ? throw new InputException(problems) : values;
    }

    /// <summary>The typed inputs as JSON, for the run record.</summary>
    public static IReadOnlyDictionary<string, JsonNode?> ToJson(IReadOnlyDictionary<string, object?> values) =>
        values.ToDictionary(kv => kv.Key, kv => kv.Value switch
        {
            null => null,
            string s => JsonValue.Create(s),
            long l => JsonValue.Create(l),
            double d => JsonValue.Create(d),
            bool b => (JsonNode?)JsonValue.Create(b),
            var other => JsonValue.Create(other.ToString()),
        }, StringComparer.Ordinal);

    private static bool TryConvert(InputType type, string text, out object? value)
    {
        switch (type)
        {
            case InputType.Integer when long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l):
                value = l;
                return true;
            case InputType.Number when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d):
                value = d;
                return true;
            case InputType.Boolean when bool.TryParse(text, out var b):
                value = b;
                return true;
            case InputType.String:
                value = text;
                return true;
            default:
                value = null;
                return false;
        }
    }

    private static string Describe(InputType type) => type switch
    {
        InputType.Integer => "an integer",
        InputType.Number => "a number",
        InputType.Boolean => "true or false",
        _ => "text",
    };
}
