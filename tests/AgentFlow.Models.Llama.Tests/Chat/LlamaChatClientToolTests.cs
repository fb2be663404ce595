using System.Text.Json;
using AgentFlow.Models.Llama.Tests.Support;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Chat;

/// <summary>Tool calls and JSON output of the built-in tiny model (random weights): only the constraint makes them valid.</summary>
public sealed class LlamaChatClientToolTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const string OrderParameters = """
        { "type": "object",
          "properties": { "order_id": { "type": "string", "pattern": "^[A-Z0-9-]{1,20}$" } },
          "required": ["order_id"] }
        """;

    private const string TicketSchema = """
        { "type": "object",
          "properties": {
            "category": { "enum": ["billing", "bug", "other"] },
            "summary": { "type": "string", "maxLength": 60 },
            "confidence": { "type": "number" },
            "tags": { "type": "array", "items": { "type": "string", "maxLength": 12 }, "maxItems": 5 } },
          "required": ["category", "summary", "confidence", "tags"] }
        """;

    private static readonly ChatMessage[] Prompt = [new(ChatRole.User, "Where is my order ORD-77?")];

    private static AIFunctionDeclaration LookupOrder { get; } = AIFunctionFactory.CreateDeclaration(
        "lookup_order", "Look up an order by its id.", JsonDocument.Parse(OrderParameters).RootElement);

    private static AIFunctionDeclaration Refund { get; } = AIFunctionFactory.CreateDeclaration(
        "refund", "Refund an order.",
        JsonDocument.Parse("""{"type":"object","properties":{"order_id":{"type":"string"},"amount":{"type":"number"}},"required":["order_id","amount"]}""").RootElement);

    [Fact]
    public async Task GetResponseAsync_RequireSpecific20Seeds_CallsWithSchemaValidArguments()
    {
        var schema = JsonSchema.FromText(OrderParameters);
        for (var seed = 1; seed <= 20; seed++)
        {
            var options = new ChatOptions
            {
                Tools = [LookupOrder, Refund], ToolMode = ChatToolMode.RequireSpecific("lookup_order"),
                Temperature = 1, Seed = seed, MaxOutputTokens = 96,
            };

            var response = await fixture.Client.GetResponseAsync(Prompt, options);

            Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
            var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Equal("lookup_order", call.Name);
            Assert.StartsWith("call_", call.CallId, StringComparison.Ordinal);
            var arguments = JsonSerializer.SerializeToElement(call.Arguments);
            Assert.True(schema.Evaluate(arguments).IsValid, $"seed {seed}: {arguments}");
        }
    }

    [Fact]
    public async Task GetResponseAsync_RequireAny_CallsOneOfTheTools()
    {
        var options = new ChatOptions { Tools = [LookupOrder, Refund], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 80 };

        var response = await fixture.Client.GetResponseAsync(Prompt, options);

        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.True(call.Name is "lookup_order" or "refund", call.Name);
        Assert.True(call.Arguments!.ContainsKey("order_id"));
    }

    [Fact]
    public async Task GetResponseAsync_JsonSchema20RunsSomeWithTightLimits_AllSchemaValid()
    {
        var schema = JsonSchema.FromText(TicketSchema);
        var format = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(TicketSchema).RootElement, "ticket");
        for (var run = 0; run < 20; run++)
        {
            // Limits from barely above the shortest valid answer up to plenty: the answer closes in time.
            var options = new ChatOptions { ResponseFormat = format, Temperature = 1, Seed = run, MaxOutputTokens = 60 + run * 10 };

            var response = await fixture.Client.GetResponseAsync(Prompt, options);

            using var document = JsonDocument.Parse(response.Text);
            Assert.True(schema.Evaluate(document.RootElement).IsValid, $"run {run}: {response.Text}");
            Assert.True(response.Usage!.OutputTokenCount <= options.MaxOutputTokens);
        }
    }

    [Fact]
    public async Task GetResponseAsync_JsonWithoutSchema_AnswerIsAJsonObject()
    {
        var response = await fixture.Client.GetResponseAsync(Prompt, new ChatOptions { ResponseFormat = ChatResponseFormat.Json, MaxOutputTokens = 100 });

        using var document = JsonDocument.Parse(response.Text);
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
    }

    [Fact]
    public async Task GetResponseAsync_LimitBelowShortestCall_FailsSayingRaiseMaxTokens()
    {
        var options = new ChatOptions { Tools = [LookupOrder], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 10 };

        var error = await Assert.ThrowsAsync<AgentFlowException>(() => fixture.Client.GetResponseAsync(Prompt, options));

        Assert.Contains("raise max_tokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RequiredCall_NoTextStreamedAndLastUpdateCarriesTheCall()
    {
        var options = new ChatOptions { Tools = [LookupOrder], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 96 };
        var updates = new List<ChatResponseUpdate>();

        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Prompt, options))
        {
            updates.Add(update);
        }

        Assert.DoesNotContain(updates, u => u.Contents.OfType<TextContent>().Any(t => t.Text.Contains("<tool_call>", StringComparison.Ordinal)));
        var last = updates[^1];
        Assert.Equal(ChatFinishReason.ToolCalls, last.FinishReason);
        Assert.Equal("lookup_order", Assert.Single(last.Contents.OfType<FunctionCallContent>()).Name);
        Assert.Single(last.Contents.OfType<UsageContent>());
    }

    [Fact]
    public async Task GetResponseAsync_AutoWithTools_AnswerIsACallOrTextThatIsNotOne()
    {
        for (var seed = 1; seed <= 5; seed++)
        {
            var options = new ChatOptions { Tools = [LookupOrder], Temperature = 1, Seed = seed, MaxOutputTokens = 96 };

            var response = await fixture.Client.GetResponseAsync(Prompt, options);

            var contents = response.Messages.SelectMany(m => m.Contents).ToList();
            if (contents.OfType<FunctionCallContent>().Any())
            {
                Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
            }
            else
            {
                Assert.DoesNotContain("<tool_call>", response.Text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task FunctionInvokingChatClient_ForcedCall_FunctionGetsValidArgumentsAndItsResultReachesTheModel()
    {
        var received = new List<string>();
        var function = AIFunctionFactory.Create(
            (string order_id) =>
            {
                received.Add(order_id);
                return $"order {order_id}: shipped";
            },
            "lookup_order",
            "Look up an order by its id.");
        // Not disposed: that would dispose the fixture's client inside it.
        var client = new ChatClientBuilder(fixture.Client).UseFunctionInvocation(configure: c => c.MaximumIterationsPerRequest = 2).Build();
        var options = new ChatOptions { Tools = [function], ToolMode = ChatToolMode.RequireSpecific("lookup_order"), MaxOutputTokens = 120 };

        var response = await client.GetResponseAsync(Prompt, options);

        var order = Assert.Single(received);
        Assert.False(string.IsNullOrEmpty(order));
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal($"order {order}: shipped", result.Result?.ToString());
        // The turn after the call saw the result: its prompt is longer than the first one by at least the result's text.
        Assert.True(response.Usage!.InputTokenCount > 2 * fixture.Client.CountTokens($"order {order}: shipped"));
    }
}
