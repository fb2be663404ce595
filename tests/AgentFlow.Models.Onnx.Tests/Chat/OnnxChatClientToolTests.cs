using System.Text.Json;
using AgentFlow.Models.Onnx.Tests.Support;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Onnx.Tests.Chat;

/// <summary>Tool calls and JSON output of the built-in tiny ONNX model (random weights): only the constraint makes them valid.</summary>
public sealed class OnnxChatClientToolTests(TinyOnnxFixture fixture) : IClassFixture<TinyOnnxFixture>
{
    private const string OrderParameters = """
        { "type": "object",
          "properties": { "order_id": { "type": "string", "pattern": "^[A-Z0-9-]{1,20}$" } },
          "required": ["order_id"] }
        """;

    private const string TicketSchema = """
        { "type": "object",
          "properties": { "category": { "enum": ["billing", "bug", "other"] }, "summary": { "type": "string", "maxLength": 60 }, "urgent": { "type": "boolean" } },
          "required": ["category", "summary", "urgent"] }
        """;

    private static readonly ChatMessage[] Prompt = [new(ChatRole.User, "Where is my order ORD-77?")];

    private static AIFunctionDeclaration LookupOrder { get; } = AIFunctionFactory.CreateDeclaration(
        "lookup_order", "Look up an order by its id.", JsonDocument.Parse(OrderParameters).RootElement);

    [Fact]
    public async Task GetResponseAsync_RequireSpecific20Seeds_CallsWithSchemaValidArguments()
    {
        var schema = JsonSchema.FromText(OrderParameters);
        for (var seed = 1; seed <= 20; seed++)
        {
            var options = new ChatOptions
            {
                Tools = [LookupOrder], ToolMode = ChatToolMode.RequireSpecific("lookup_order"), Temperature = 1, Seed = seed, MaxOutputTokens = 96,
            };

            var response = await fixture.Client.GetResponseAsync(Prompt, options);

            Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
            var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Equal("lookup_order", call.Name);
            var arguments = JsonSerializer.SerializeToElement(call.Arguments);
            Assert.True(schema.Evaluate(arguments).IsValid, $"seed {seed}: {arguments}");
        }
    }

    [Fact]
    public async Task GetResponseAsync_JsonSchema20Runs_AllSchemaValid()
    {
        var schema = JsonSchema.FromText(TicketSchema);
        var format = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(TicketSchema).RootElement, "ticket");
        for (var run = 0; run < 20; run++)
        {
            var options = new ChatOptions { ResponseFormat = format, Temperature = run == 0 ? 0 : 1, Seed = run, MaxOutputTokens = 50 + run * 5 };

            var response = await fixture.Client.GetResponseAsync(Prompt, options);

            using var document = JsonDocument.Parse(response.Text);
            Assert.True(schema.Evaluate(document.RootElement).IsValid, $"run {run}: {response.Text}");
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RequiredCall_LastUpdateCarriesTheCall()
    {
        var options = new ChatOptions { Tools = [LookupOrder], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 96 };
        var updates = new List<ChatResponseUpdate>();

        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Prompt, options))
        {
            updates.Add(update);
        }

        Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
        Assert.Equal("lookup_order", Assert.Single(updates[^1].Contents.OfType<FunctionCallContent>()).Name);
    }
}
