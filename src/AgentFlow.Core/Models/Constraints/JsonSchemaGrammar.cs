using System.Globalization;
using System.Text.Json;

namespace AgentFlow.Models.Constraints;

/// <summary>
/// Turns a JSON Schema into the <see cref="GrammarNode"/> of the compact JSON texts it allows, for constrained
/// decoding. Supported: <c>type</c> (one or a list), <c>properties</c>/<c>required</c> (properties in declared order;
/// no other property is ever written, whatever <c>additionalProperties</c> says), <c>items</c>,
/// <c>minItems</c>/<c>maxItems</c>, <c>minLength</c>/<c>maxLength</c>, <c>pattern</c> (a regular-expression subset,
/// see <see cref="PatternGrammar"/>), <c>enum</c>, <c>const</c>, <c>anyOf</c>/<c>oneOf</c>, and <c>minimum: 0</c> or
/// <c>1</c>; annotations (<c>description</c>, <c>title</c>, <c>format</c>, <c>default</c>, …) are ignored. Anything
/// else throws <see cref="UnsupportedSchemaException"/> naming the keyword and where it is.
/// Every length is bounded (strings <see cref="DefaultMaxLength"/>, arrays <see cref="DefaultMaxItems"/> when the
/// schema sets none) so the longest output is finite; string characters are printable ASCII or <c>\" \\ \n \t</c>.
/// </summary>
public static class JsonSchemaGrammar
{
    /// <summary>Characters of a string without <c>maxLength</c>.</summary>
    public const int DefaultMaxLength = 64;

    /// <summary>Items of an array without <c>maxItems</c>.</summary>
    public const int DefaultMaxItems = 8;

    /// <summary>Largest <c>maxLength</c> or <c>maxItems</c> accepted.</summary>
    public const int MaxBound = 4096;

    /// <summary>Digits of an integer (and of a number's integer part).</summary>
    public const int IntegerDigits = 15;

    /// <summary>Fraction digits of a number.</summary>
    public const int FractionDigits = 6;

    /// <summary>Nesting depth of schemas accepted.</summary>
    public const int MaxDepth = 16;

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "format", "deprecated", "readOnly", "writeOnly",
        "contentMediaType", "contentEncoding",
    };

    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
        "pattern", "enum", "const", "anyOf", "oneOf", "minimum",
    };

    /// <summary>The grammar of the JSON texts <paramref name="schema"/> allows.</summary>
    /// <exception cref="UnsupportedSchemaException">The schema uses a keyword or value that cannot be followed.</exception>
    public static GrammarNode FromSchema(JsonElement schema) => Convert(schema, string.Empty, 0);

    /// <summary>The grammar of any JSON object (no schema): up to <see cref="DefaultMaxItems"/> properties with scalar values.</summary>
    public static GrammarNode AnyObject()
    {
        var member = GrammarNode.Sequence(JsonText.String(1, 32), GrammarNode.Literal(":"), AnyScalar());
        return GrammarNode.Sequence(
            GrammarNode.Literal("{"),
            GrammarNode.Optional(GrammarNode.Sequence(member, GrammarNode.Repeat(GrammarNode.Sequence(GrammarNode.Literal(","), member), 0, DefaultMaxItems - 1))),
            GrammarNode.Literal("}"));
    }

    private static GrammarNode AnyScalar() => GrammarNode.Choice(
        JsonText.String(0, DefaultMaxLength),
        JsonText.Number(IntegerDigits, FractionDigits, negative: true),
        GrammarNode.Literal("true"), GrammarNode.Literal("false"), GrammarNode.Literal("null"));

    private static GrammarNode Convert(JsonElement schema, string path, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new UnsupportedSchemaException(path, $"nested more than {MaxDepth} levels deep");
        }

        if (schema.ValueKind == JsonValueKind.True)
        {
            return AnyScalar();
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new UnsupportedSchemaException(path, schema.ValueKind == JsonValueKind.False
                ? "'false' allows no value at all"
                : $"a schema must be an object, got {schema.ValueKind.ToString().ToLowerInvariant()}");
        }

        foreach (var property in schema.EnumerateObject())
        {
            if (!Supported.Contains(property.Name) && !Annotations.Contains(property.Name))
            {
                throw new UnsupportedSchemaException(path, $"keyword '{property.Name}' is not supported for constrained decoding "
                    + "(supported: type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, pattern, enum, const, anyOf, oneOf, minimum 0 or 1)");
            }
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            return Value(constant);
        }

        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
            {
                throw new UnsupportedSchemaException(path + "/enum", "'enum' must be a non-empty array");
            }

            return GrammarNode.Choice(values.EnumerateArray().Select(Value));
        }

        foreach (var keyword in (string[])["anyOf", "oneOf"])
        {
            if (schema.TryGetProperty(keyword, out var options))
            {
                if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
                {
                    throw new UnsupportedSchemaException(path + "/" + keyword, $"'{keyword}' must be a non-empty array of schemas");
                }

                return GrammarNode.Choice(options.EnumerateArray().Select((option, i) => Convert(option, $"{path}/{keyword}/{i}", depth + 1)));
            }
        }

        var types = Types(schema, path);
        return GrammarNode.Choice(types.Select(type => OfType(schema, type, path, depth)));
    }

    private static string[] Types(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            // Untyped: what the other keywords imply, else any scalar.
            return schema.TryGetProperty("properties", out _) ? ["object"]
                : schema.TryGetProperty("items", out _) ? ["array"]
                : schema.TryGetProperty("pattern", out _) || schema.TryGetProperty("maxLength", out _) ? ["string"]
                : ["string", "number", "boolean", "null"];
        }

        var names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String)
                => type.EnumerateArray().Select(t => t.GetString()!).ToArray(),
            _ => throw new UnsupportedSchemaException(path + "/type", "'type' must be a type name or a non-empty list of them"),
        };
        foreach (var name in names)
        {
            if (name is not ("object" or "array" or "string" or "number" or "integer" or "boolean" or "null"))
            {
                throw new UnsupportedSchemaException(path + "/type", $"unknown type '{name}' (use object, array, string, number, integer, boolean or null)");
            }
        }

        return names;
    }

    private static GrammarNode OfType(JsonElement schema, string type, string path, int depth) => type switch
    {
        "object" => Object(schema, path, depth),
        "array" => Array(schema, path, depth),
        "string" => String(schema, path),
        "integer" => JsonText.Integer(IntegerDigits, negative: Minimum(schema, path) is null, zero: Minimum(schema, path) is not 1),
        "number" => Minimum(schema, path) is 1
            ? throw new UnsupportedSchemaException(path + "/minimum", "'minimum' other than 0 is supported on integers only")
            : JsonText.Number(IntegerDigits, FractionDigits, negative: Minimum(schema, path) is null),
        "boolean" => GrammarNode.Choice(GrammarNode.Literal("true"), GrammarNode.Literal("false")),
        _ => GrammarNode.Literal("null"),
    };

    private static int? Minimum(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("minimum", out var minimum))
        {
            return null;
        }

        if (minimum.ValueKind == JsonValueKind.Number && minimum.TryGetDecimal(out var value) && value is 0m or 1m)
        {
            return (int)value;
        }

        throw new UnsupportedSchemaException(path + "/minimum", "only 'minimum: 0' (non-negative) and 'minimum: 1' (positive integers) can be followed while decoding; check other ranges after the step instead");
    }

    private static GrammarNode Object(JsonElement schema, string path, int depth)
    {
        var members = new List<(string Name, GrammarNode Value, bool Required)>();
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array || !list.EnumerateArray().All(r => r.ValueKind == JsonValueKind.String))
            {
                throw new UnsupportedSchemaException(path + "/required", "'required' must be a list of property names");
            }

            required.UnionWith(list.EnumerateArray().Select(r => r.GetString()!));
        }

        if (schema.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
            {
                throw new UnsupportedSchemaException(path + "/properties", "'properties' must be an object of schemas");
            }

            foreach (var property in properties.EnumerateObject())
            {
                var value = Convert(property.Value, $"{path}/properties/{Escape(property.Name)}", depth + 1);
                members.Add((property.Name, value, required.Contains(property.Name)));
            }
        }

        foreach (var name in required)
        {
            if (!members.Any(m => m.Name == name))
            {
                throw new UnsupportedSchemaException(path + "/required", $"required property '{name}' is not under 'properties'; declare its schema there");
            }
        }

        return GrammarNode.Sequence(GrammarNode.Literal("{"), Members(members, 0, first: true, []), GrammarNode.Literal("}"));
    }

    // The members from index 'i' on, in declared order; optional ones may be left out, and the comma goes between.
    private static GrammarNode Members(List<(string Name, GrammarNode Value, bool Required)> members, int i, bool first, Dictionary<(int, bool), GrammarNode> built)
    {
        if (i == members.Count)
        {
            return GrammarNode.Empty;
        }

        if (built.TryGetValue((i, first), out var known))
        {
            return known;
        }

        var (name, value, isRequired) = members[i];
        var member = GrammarNode.Sequence(GrammarNode.Literal((first ? string.Empty : ",") + JsonText.Quote(name) + ":"), value);
        var with = GrammarNode.Sequence(member, Members(members, i + 1, first: false, built));
        var result = isRequired ? with : GrammarNode.Choice(with, Members(members, i + 1, first, built));
        built[(i, first)] = result;
        return result;
    }

    private static GrammarNode Array(JsonElement schema, string path, int depth)
    {
        var item = schema.TryGetProperty("items", out var items) ? Convert(items, path + "/items", depth + 1) : AnyScalar();
        var min = Bound(schema, "minItems", path, 0);
        var max = Bound(schema, "maxItems", path, Math.Max(min, DefaultMaxItems));
        if (min > max)
        {
            throw new UnsupportedSchemaException(path, $"minItems ({min}) is larger than maxItems ({max})");
        }

        var rest = GrammarNode.Sequence(GrammarNode.Literal(","), item);
        var content = max == 0
            ? GrammarNode.Empty
            : GrammarNode.Sequence(item, GrammarNode.Repeat(rest, Math.Max(0, min - 1), max - 1));
        return GrammarNode.Sequence(GrammarNode.Literal("["), min == 0 ? GrammarNode.Optional(content) : content, GrammarNode.Literal("]"));
    }

    private static GrammarNode String(JsonElement schema, string path)
    {
        var min = Bound(schema, "minLength", path, 0);
        var max = Bound(schema, "maxLength", path, Math.Max(min, DefaultMaxLength));
        if (min > max)
        {
            throw new UnsupportedSchemaException(path, $"minLength ({min}) is larger than maxLength ({max})");
        }

        if (schema.TryGetProperty("pattern", out var pattern))
        {
            if (pattern.ValueKind != JsonValueKind.String)
            {
                throw new UnsupportedSchemaException(path + "/pattern", "'pattern' must be a string");
            }

            try
            {
                return GrammarNode.Sequence(GrammarNode.Literal("\""), PatternGrammar.Parse(pattern.GetString()!, max), GrammarNode.Literal("\""));
            }
            catch (FormatException ex)
            {
                throw new UnsupportedSchemaException(path + "/pattern", ex.Message);
            }
        }

        return JsonText.String(min, max);
    }

    private static int Bound(JsonElement schema, string keyword, string path, int fallback)
    {
        if (!schema.TryGetProperty(keyword, out var value))
        {
            return fallback;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n is >= 0 and <= MaxBound)
        {
            return n;
        }

        throw new UnsupportedSchemaException(path + "/" + keyword, $"'{keyword}' must be an integer from 0 to {MaxBound.ToString(CultureInfo.InvariantCulture)}");
    }

    // A fixed value (const, enum member) as its compact JSON text.
    private static GrammarNode Value(JsonElement value) =>
        GrammarNode.Literal(JsonSerializer.Serialize(value, JsonElementContext.Default.JsonElement));

    private static string Escape(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonElement))]
internal sealed partial class JsonElementContext : System.Text.Json.Serialization.JsonSerializerContext;
