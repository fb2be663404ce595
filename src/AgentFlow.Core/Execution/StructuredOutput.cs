using System.Text.Json;
using AgentFlow.Definitions;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution;

/// <summary>
/// An agent step's structured output at run time: the response format asked of the model (decoded under the schema
/// by local models, <c>response_format: json_schema</c> for OpenAI-compatible servers) and the check of the answer.
/// </summary>
public sealed class StructuredOutput
{
    private readonly JsonSchema _schema;

    /// <summary>Reads the step's schema.</summary>
    /// <exception cref="JsonException">The schema text is not a JSON Schema (the loader reports that first).</exception>
    public StructuredOutput(StructuredOutputDefinition definition, string stepId)
    {
        ArgumentNullException.ThrowIfNull(definition);
        _schema = JsonSchema.FromText(definition.Schema);
        using var document = JsonDocument.Parse(definition.Schema);
        Format = ChatResponseFormat.ForJsonSchema(document.RootElement.Clone(), stepId);
    }

    /// <summary>The response format to request.</summary>
    public ChatResponseFormat Format { get; }

    /// <summary>Checks <paramref name="answer"/>: JSON, valid under the schema.</summary>
    /// <exception cref="StructuredOutputException">It is not JSON, or not valid under the schema.</exception>
    public void Check(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        JsonElement node;
        try
        {
            using var document = JsonDocument.Parse(answer);
            node = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new StructuredOutputException($"the answer is not JSON ({ex.Message.Split(" Path:")[0].TrimEnd('.')})");
        }

        var result = _schema.Evaluate(node, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!result.IsValid)
        {
            var error = result.Details?.Where(d => d.Errors is { Count: > 0 })
                .Select(d => $"at '{d.InstanceLocation}': {d.Errors!.First().Value}").FirstOrDefault();
            throw new StructuredOutputException("the answer does not match the output schema" + (error is null ? string.Empty : $" ({error})"));
        }
    }

    /// <summary>Checks that <paramref name="schema"/> (JSON text) is a valid JSON Schema (draft 2020-12); the first problem, or null.</summary>
    public static string? Problem(string schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        try
        {
            using var document = JsonDocument.Parse(schema);
            var node = document.RootElement;
            var result = MetaSchemas.Draft202012.Evaluate(node, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!result.IsValid)
            {
                return result.Details?.Where(d => d.Errors is { Count: > 0 })
                    .Select(d => $"at '{d.InstanceLocation}': {d.Errors!.First().Value}").FirstOrDefault() ?? "it is not a valid JSON Schema";
            }

            _ = JsonSchema.FromText(schema);
            return null;
        }
        catch (Exception ex) when (ex is JsonException or JsonSchemaException or ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            // Json.Schema throws for keywords it cannot build (an unknown keyword, a regex pattern .NET refuses):
            // all of them are problems of the file, reported at the schema, never an internal error.
            return ex.Message;
        }
    }
}

/// <summary>A model's answer is not the JSON its step's output schema asks for; the attempt fails (retry and fallback apply).</summary>
public sealed class StructuredOutputException(string message) : AgentFlowException(message);
