using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;

namespace AgentFlow.Definitions.Yaml;

/// <summary>
/// Reads a YAML subtree as JSON (a tool's <c>parameters</c> schema): mappings become objects, lists arrays, and plain
/// scalars follow YAML 1.2's core schema (<c>null</c>, <c>true</c>/<c>false</c>, numbers); quoted scalars stay strings.
/// </summary>
internal static class YamlJson
{
    public static JsonNode? ToJson(YamlTreeNode node) => node switch
    {
        YamlTreeMapping map => ToObject(map),
        YamlTreeSequence sequence => new JsonArray([.. sequence.Items.Select(ToJson)]),
        YamlTreeScalar scalar => Scalar(scalar),
        _ => null,
    };

    private static JsonObject ToObject(YamlTreeMapping map)
    {
        var result = new JsonObject();
        foreach (var (key, value) in map.Entries)
        {
            result[key.Value] = ToJson(value);
        }

        return result;
    }

    private static JsonValue? Scalar(YamlTreeScalar scalar)
    {
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
        {
            return JsonValue.Create(scalar.Value);
        }

        if (scalar.IsNull)
        {
            return null;
        }

        return scalar.Value switch
        {
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            var text when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer) => JsonValue.Create(integer),
            var text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) => JsonValue.Create(number),
            var text => JsonValue.Create(text),
        };
    }
}
