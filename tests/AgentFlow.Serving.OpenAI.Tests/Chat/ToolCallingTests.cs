using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace AgentFlow.Serving.OpenAI.Tests.Chat;

/// <summary>
/// <c>tools</c>, <c>tool_choice</c> and <c>response_format</c> on the tiny model (random weights): only the endpoint
/// passing them to the model's constrained decoding makes its calls and JSON well-formed; the endpoint answers with
/// OpenAI's <c>tool_calls</c> and never runs a tool itself.
/// </summary>
[Collection(TinyEndpointTests.Name)]
public sealed partial class ToolCallingTests(TinyEndpointFixture fixture)
{
    private static JsonNode LookupOrder => JsonNode.Parse("""
        {"type": "function", "function": {"name": "lookup_order", "description": "Look up an order by its id.",
         "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[A-Z0-9-]{1,20}$"}}, "required": ["order_id"]}}}
        """)!;

    private static JsonNode Refund => JsonNode.Parse("""
        {"type": "function", "function": {"name": "refund", "description": "Refund an order.",
         "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}}, "required": ["order_id", "amount"]}}}
        """)!;

    private static JsonObject Forced(int seed) => new()
    {
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Where is my order ORD-77?" }),
        ["tools"] = new JsonArray(LookupOrder, Refund),
        ["tool_choice"] = JsonNode.Parse("""{"type": "function", "function": {"name": "lookup_order"}}"""),
        ["max_tokens"] = 96,
        ["temperature"] = 1,
        ["seed"] = seed,
    };

    [Fact]
    public async Task ChatCompletions_ForcedFunction_AnswersToolCallsWithSchemaValidArguments()
    {
        for (var seed = 1; seed <= 5; seed++)
        {
            var (status, body) = await fixture.ChatAsync(Forced(seed));

            Assert.Equal(HttpStatusCode.OK, status);
            var choice = body["choices"]![0]!;
            Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
            Assert.Null(choice["message"]!["content"]);
            var call = Assert.Single(choice["message"]!["tool_calls"]!.AsArray())!;
            Assert.StartsWith("call_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal("function", call["type"]!.GetValue<string>());
            Assert.Equal("lookup_order", call["function"]!["name"]!.GetValue<string>());
            var arguments = JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!.AsObject();
            Assert.Equal(["order_id"], arguments.Select(a => a.Key));
            Assert.Matches(OrderId(), arguments["order_id"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task ChatCompletions_ForcedFunctionStreamed_DeltasJoinToTheSameCallAsWithoutStreaming()
    {
        var (_, whole) = await fixture.ChatAsync(Forced(3));
        var expected = whole["choices"]![0]!["message"]!["tool_calls"]![0]!["function"]!;
        var request = Forced(3);
        request["model"] = "tiny";
        request["stream"] = true;

        using var response = await fixture.Http.PostAsync(fixture.Url("/v1/chat/completions"), JsonContent.Create(request));
        var chunks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1]
            .Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!).ToList();

        var deltas = chunks.SelectMany(c => c["delta"]!["tool_calls"]?.AsArray() ?? []).ToList();
        Assert.All(deltas, d => Assert.Equal(0, d!["index"]!.GetValue<int>()));
        Assert.StartsWith("call_", deltas[0]!["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("function", deltas[0]!["type"]!.GetValue<string>());
        Assert.Equal(expected["name"]!.GetValue<string>(), deltas[0]!["function"]!["name"]!.GetValue<string>());
        Assert.Equal(expected["arguments"]!.GetValue<string>(), string.Concat(deltas.Select(d => d!["function"]!["arguments"]!.GetValue<string>())));
        Assert.Equal("tool_calls", chunks[^1]["finish_reason"]!.GetValue<string>());
        Assert.Equal(string.Empty, string.Concat(chunks.Select(c => c["delta"]!["content"]?.GetValue<string>())));
    }

    [Fact]
    public async Task ChatCompletions_ToolChoiceRequired_CallsOneOfTheTools()
    {
        var request = Forced(7);
        request["tool_choice"] = "required";

        var (status, body) = await fixture.ChatAsync(request);

        Assert.Equal(HttpStatusCode.OK, status);
        var call = Assert.Single(body["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        var name = call["function"]!["name"]!.GetValue<string>();
        Assert.True(name is "lookup_order" or "refund", name);
        Assert.True(JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!.AsObject().ContainsKey("order_id"));
    }

    [Fact]
    public async Task ChatCompletions_ToolChoiceNone_AnswersTextWithoutCalls()
    {
        var request = Forced(7);
        request["tool_choice"] = "none";
        request["max_tokens"] = 8;

        var (status, body) = await fixture.ChatAsync(request);

        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body["choices"]![0]!;
        Assert.Null(choice["message"]!["tool_calls"]);
        Assert.NotEqual("tool_calls", choice["finish_reason"]!.GetValue<string>());
        Assert.IsType<string>(choice["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_ToolRoundTrip_TheCallAndItsResultReachTheModel()
    {
        const string Result = """{"order_id": "ORD-77", "status": "shipped on Monday by the slow boat to the far island"}""";
        var question = new JsonObject { ["role"] = "user", ["content"] = "Where is my order ORD-77?" };
        var call = JsonNode.Parse("""
            {"role": "assistant", "content": null,
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{\"order_id\": \"ORD-77\"}"}}]}
            """)!;
        var result = new JsonObject { ["role"] = "tool", ["tool_call_id"] = "call_1", ["content"] = Result };
        var tools = new JsonArray(LookupOrder);

        var (_, before) = await fixture.ChatAsync(new JsonObject { ["messages"] = new JsonArray(question.DeepClone()), ["tools"] = tools.DeepClone() });
        var (status, after) = await fixture.ChatAsync(new JsonObject { ["messages"] = new JsonArray(question, call, result), ["tools"] = tools });

        Assert.Equal(HttpStatusCode.OK, status);
        var grown = after["usage"]!["prompt_tokens"]!.GetValue<int>() - before["usage"]!["prompt_tokens"]!.GetValue<int>();
        Assert.True(grown >= fixture.TinyClient.CountTokens(Result), $"the prompt grew by {grown} tokens only");
    }

    [Fact]
    public async Task ChatCompletions_JsonSchemaResponseFormat_AnswerFollowsTheSchema()
    {
        for (var seed = 1; seed <= 5; seed++)
        {
            var (status, body) = await fixture.ChatAsync(new JsonObject
            {
                ["response_format"] = JsonNode.Parse("""
                    {"type": "json_schema", "json_schema": {"name": "ticket", "strict": true, "schema":
                      {"type": "object", "properties": {"category": {"enum": ["billing", "bug", "other"]}, "urgent": {"type": "boolean"}},
                       "required": ["category", "urgent"]}}}
                    """),
                ["max_tokens"] = 60,
                ["temperature"] = 1,
                ["seed"] = seed,
            });

            Assert.Equal(HttpStatusCode.OK, status);
            var answer = JsonNode.Parse(body["choices"]![0]!["message"]!["content"]!.GetValue<string>())!.AsObject();
            Assert.True(answer["category"]!.GetValue<string>() is "billing" or "bug" or "other", answer.ToJsonString());
            Assert.True(answer["urgent"]!.GetValueKind() is JsonValueKind.True or JsonValueKind.False, answer.ToJsonString());
            Assert.Equal(2, answer.Count);
        }
    }

    [Fact]
    public async Task ChatCompletions_JsonObjectResponseFormat_AnswerIsAJsonObject()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["response_format"] = new JsonObject { ["type"] = "json_object" }, ["max_tokens"] = 40 });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.IsType<JsonObject>(JsonNode.Parse(body["choices"]![0]!["message"]!["content"]!.GetValue<string>()));
    }

    [Fact]
    public async Task ChatCompletions_ToolSchemaTheModelCannotFollow_Is400NamingTheTool()
    {
        var request = Forced(1);
        request["tools"]![1]!["function"]!["parameters"] = JsonNode.Parse("""{"type": "object", "properties": {"a": {"$ref": "#/defs/a"}}}""");
        request["tool_choice"] = "required";

        var (status, body) = await fixture.ChatAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal("tools[1].function.parameters", error["param"]!.GetValue<string>());
        Assert.Contains("$ref", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ChatCompletions_MaxTokensBelowTheShortestCall_Is400NamingMaxTokens(bool stream)
    {
        var request = Forced(1);
        request["max_tokens"] = 10;
        request["stream"] = stream;

        var (status, body) = await fixture.ChatAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal("max_tokens", error["param"]!.GetValue<string>());
        Assert.Contains("raise max_tokens", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_ThroughAgentFlowsOpenAIProvider_ToolsTravelAndCallsComeBack()
    {
        // relay is AgentFlow's openai provider (Microsoft.Extensions.AI.OpenAI) pointed at tiny: it must send the
        // tools and tool choice it is given, and read the tool_calls this endpoint answers, both ways in OpenAI's shape.
        var request = Forced(2);
        request["model"] = "relay";

        var (status, body) = await fixture.ChatAsync(request, fixture.RelayEndpoint);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("tool_calls", body["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var call = Assert.Single(body["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("lookup_order", call["function"]!["name"]!.GetValue<string>());
        Assert.Matches(OrderId(), JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["order_id"]!.GetValue<string>());
    }

    [GeneratedRegex("^[A-Z0-9-]{1,20}$")]
    private static partial Regex OrderId();
}
