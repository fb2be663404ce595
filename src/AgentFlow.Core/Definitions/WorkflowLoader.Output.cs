using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions.Yaml;
using AgentFlow.Execution;
using AgentFlow.Models.Constraints;
using YamlDotNet.Core;

namespace AgentFlow.Definitions;

public static partial class WorkflowLoader
{
    private sealed partial class Reader
    {
        private static readonly string[] OutputKeys = ["schema"];

        // output: { schema: {…} } — the schema is written in YAML and kept as JSON.
        private StructuredOutputDefinition? ReadStructuredOutput(YamlTreeNode node, string id)
        {
            if (Mapping(node, $"output of step '{id}'", "output: { schema: { type: object, properties: { … }, required: [ … ] } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, OutputKeys, $"output of step '{id}'");
            if (!keys.TryGetValue("schema", out var schemaNode))
            {
                Error(map.Start, "AF0103", $"output of step '{id}' is missing required key 'schema'", "add schema: { type: object, properties: { … } }");
                return null;
            }

            if (schemaNode is not YamlTreeMapping)
            {
                Error(schemaNode.Start, "AF0450", $"the output schema of step '{id}' must be a mapping (a JSON Schema object), not {schemaNode.Describe()}", "e.g. schema: { type: object, properties: { category: { enum: [billing, bug] } } }");
                return null;
            }

            var json = ToJson(schemaNode)!.ToJsonString();
            if (StructuredOutput.Problem(json) is { } problem)
            {
                Error(schemaNode.Start, "AF0451", $"the output schema of step '{id}' is not a valid JSON Schema: {problem}", "see https://json-schema.org/understanding-json-schema");
                return null;
            }

            using var document = JsonDocument.Parse(json);
            try
            {
                JsonSchemaGrammar.FromSchema(document.RootElement);
            }
            catch (UnsupportedSchemaException ex)
            {
                // Servers that take response_format still follow it; local models (llama, ONNX) refuse it at run time.
                Warning(Locate(schemaNode, ex.Path).Start, "AF0452", $"local models cannot decode the output schema of step '{id}' under a constraint: {ex.Problem}",
                    "use the supported subset (docs/workflow-format.md#structured-output), or bind the alias to an OpenAI-compatible model");
            }
            catch (Exception ex) when (ex is ArgumentException or OverflowException or FormatException or InvalidOperationException)
            {
                // A pattern or bound the grammar cannot take (e.g. a quantifier beyond Int32): the file's problem, not a crash.
                Warning(schemaNode.Start, "AF0452", $"local models cannot decode the output schema of step '{id}' under a constraint: {ex.Message}",
                    "use the supported subset (docs/workflow-format.md#structured-output), or bind the alias to an OpenAI-compatible model");
            }

            var root = document.RootElement;
            var fields = root.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object
                ? properties.EnumerateObject().Select(p => p.Name).ToList()
                : [];
            return new StructuredOutputDefinition(json, fields, At(node.Start));
        }

        // The node a JSON Pointer names inside the YAML schema (as deep as it goes), for located messages.
        private static YamlTreeNode Locate(YamlTreeNode node, string pointer)
        {
            foreach (var segment in pointer.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                var name = segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                YamlTreeNode? next = node switch
                {
                    YamlTreeMapping map => map.Entries.FirstOrDefault(e => e.Name == name).Value,
                    YamlTreeSequence list when int.TryParse(name, CultureInfo.InvariantCulture, out var i) && i < list.Items.Count => list.Items[i],
                    _ => null,
                };
                if (next is null)
                {
                    break;
                }

                node = next;
            }

            return node;
        }

        // YAML to JSON: plain scalars that read as null, booleans or numbers become those; everything else is text.
        private static JsonNode? ToJson(YamlTreeNode node) => node switch
        {
            YamlTreeMapping map => new JsonObject(map.Entries.Select(e => KeyValuePair.Create(e.Name, ToJson(e.Value)))),
            YamlTreeSequence list => new JsonArray([.. list.Items.Select(ToJson)]),
            YamlTreeScalar { IsNull: true } => null,
            YamlTreeScalar { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar when scalar.Value is "true" or "false" => JsonValue.Create(scalar.Value == "true"),
            YamlTreeScalar { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
                when long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer) => JsonValue.Create(integer),
            YamlTreeScalar { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
                when decimal.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
            YamlTreeScalar scalar => JsonValue.Create(scalar.Value),
            _ => null,
        };
    }
}
