using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Serving.OpenAI.Errors;
using AgentFlow.Serving.OpenAI.Requests;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Embeddings;

/// <summary>
/// <c>POST /v1/embeddings</c> in OpenAI's shape: <c>input</c> a string or an array of strings, <c>encoding_format</c>
/// <c>float</c> (default) or <c>base64</c> (little-endian float32, as OpenAI encodes), <c>dimensions</c> only when it
/// is the model's own length (the served models cannot shorten their vectors), <c>usage.prompt_tokens</c> counted by
/// the model's own tokenizer. Token-id inputs are refused: the models here embed text.
/// </summary>
internal sealed class EmbeddingsHandler(
    IReadOnlyDictionary<string, IEmbeddingGenerator<string, Embedding<float>>> embedders, IReadOnlyCollection<string> chatModels)
{
    /// <summary>OpenAI's limit on the inputs of one request.</summary>
    public const int MaxInputs = 2048;

    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpContext http)
    {
        if (await RequestBody.ReadAsync(http).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var reader = new JsonFieldReader(body);
        var model = reader.String(reader.Field("model"), "model", required: true);
        var inputs = ReadInput(reader);
        var format = reader.String(reader.Field("encoding_format"), "encoding_format");
        if (format is not (null or "float" or "base64"))
        {
            reader.Problem("encoding_format", $"'encoding_format' must be 'float' or 'base64' (got '{format}')");
        }

        var dimensions = (int?)reader.Integer(reader.Field("dimensions"), "dimensions", 1, int.MaxValue);
        reader.String(reader.Field("user"), "user");
        reader.RejectUnread();
        if (reader.Problems.Count > 0)
        {
            await OpenAIError.Combine(reader.Problems).WriteAsync(http).ConfigureAwait(false);
            return;
        }

        if (!embedders.TryGetValue(model!, out var generator))
        {
            await NotServed(model!).WriteAsync(http).ConfigureAwait(false);
            return;
        }

        var own = generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelDimensions;
        if (dimensions is { } asked && own is { } length && asked != length)
        {
            await OpenAIError.InvalidRequest(
                $"The model '{model}' makes {length}-dimensional vectors and cannot shorten them; leave 'dimensions' out or set it to {length} (got {asked}).",
                "dimensions",
                "unsupported_parameter").WriteAsync(http).ConfigureAwait(false);
            return;
        }

        // A model that does not state its length gets the request's (a remote OpenAI-compatible embedder honours it).
        var options = dimensions is { } d && own is null ? new EmbeddingGenerationOptions { Dimensions = d } : null;
        var embeddings = await generator.GenerateAsync(inputs, options, http.RequestAborted).ConfigureAwait(false);
        var tokens = embeddings.Usage?.InputTokenCount
            ?? (generator.GetService<Models.ITokenCounter>() is { } counter ? inputs.Sum(i => (long)counter.CountTokens(i)) : 0);
        var data = new JsonArray();
        for (var i = 0; i < embeddings.Count; i++)
        {
            var vector = embeddings[i].Vector;
            data.Add(new JsonObject
            {
                ["object"] = "embedding",
                ["index"] = i,
                ["embedding"] = format == "base64" ? Base64(vector) : new JsonArray([.. MemoryMarshal.ToEnumerable(vector).Select(v => (JsonNode)v)]),
            });
        }

        var response = new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = model,
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        };
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(response.ToJsonString(), http.RequestAborted).ConfigureAwait(false);
    }

    private OpenAIError NotServed(string model) => chatModels.Contains(model)
        ? OpenAIError.InvalidRequest(
            $"The model '{model}' is a chat model and makes no embeddings (embedding models served: {Served()}).", "model", "model_not_found")
        : new OpenAIError(StatusCodes.Status404NotFound, $"The model '{model}' does not exist (embedding models served: {Served()})", "invalid_request_error", "model", "model_not_found");

    private string Served() => embedders.Count == 0 ? "none" : string.Join(", ", embedders.Keys.Order(StringComparer.Ordinal));

    // A string or an array of strings, none empty (OpenAI refuses empty inputs); token arrays are refused.
    private static List<string> ReadInput(JsonFieldReader reader)
    {
        var node = reader.Field("input");
        if (node is JsonArray many)
        {
            if (many.Count is 0 or > MaxInputs)
            {
                reader.Problem("input", string.Create(CultureInfo.InvariantCulture, $"'input' must hold from 1 to {MaxInputs} texts (got {many.Count})"));
            }

            var texts = new List<string>();
            for (var i = 0; i < many.Count; i++)
            {
                var param = string.Create(CultureInfo.InvariantCulture, $"input[{i}]");
                if (many[i] is { } item && item.GetValueKind() is JsonValueKind.Number or JsonValueKind.Array)
                {
                    reader.Problem(param, "'input' must be text: token ids are not supported by the models served here; send the text itself");
                    return texts;
                }

                if (NonEmpty(reader, many[i], param) is { } text)
                {
                    texts.Add(text);
                }
            }

            return texts;
        }

        return NonEmpty(reader, node, "input") is { } one ? [one] : [];
    }

    private static string? NonEmpty(JsonFieldReader reader, JsonNode? node, string param)
    {
        var text = reader.String(node, param, required: true);
        if (text is { Length: 0 })
        {
            reader.Problem(param, $"'{param}' must not be an empty string");
            return null;
        }

        return text;
    }

    private static string Base64(ReadOnlyMemory<float> vector)
    {
        var bytes = MemoryMarshal.AsBytes(vector.Span);
        if (!BitConverter.IsLittleEndian)
        {
            var copy = bytes.ToArray();
            for (var i = 0; i < copy.Length; i += sizeof(float))
            {
                Array.Reverse(copy, i, sizeof(float));
            }

            return Convert.ToBase64String(copy);
        }

        return Convert.ToBase64String(bytes);
    }
}
