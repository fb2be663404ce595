using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Models.OpenAI;

/// <summary>
/// Renames <c>max_completion_tokens</c> (what the OpenAI client library writes) to <c>max_tokens</c> in chat
/// completion request bodies, for servers that only understand the older field.
/// </summary>
internal sealed class MaxTokensFieldPolicy : PipelinePolicy
{
    private const string NewField = "max_completion_tokens";
    private const string OldField = "max_tokens";

    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Rewrite(message.Request);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Rewrite(message.Request);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    private static void Rewrite(PipelineRequest request)
    {
        if (request.Content is null
            || !string.Equals(request.Method, "POST", StringComparison.OrdinalIgnoreCase)
            || request.Uri?.AbsolutePath.EndsWith("/chat/completions", StringComparison.Ordinal) != true)
        {
            return;
        }

        using var buffer = new MemoryStream();
        request.Content.WriteTo(buffer);
        JsonNode? body;
        try
        {
            body = JsonNode.Parse(buffer.ToArray());
        }
        catch (JsonException)
        {
            return;
        }

        if (body is not JsonObject json || !json.Remove(NewField, out var limit) || json.ContainsKey(OldField))
        {
            return;
        }

        json[OldField] = limit;
        request.Content = BinaryContent.Create(BinaryData.FromString(json.ToJsonString()));
    }
}
