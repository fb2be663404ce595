using System.Net;
using System.Text.Json.Nodes;

namespace AgentFlow.Serving.OpenAI.Tests.Chat;

/// <summary>Client mistakes in a chat completion body: each is a 400 in OpenAI's error shape naming the field, never a 500.</summary>
[Collection(TinyEndpointTests.Name)]
public sealed class ChatCompletionRequestTests(TinyEndpointFixture fixture)
{
    public static TheoryData<string, string> BadFields => new()
    {
        { """{"model": 42}""", "model" },
        { """{"model": null}""", "model" },
        { """{"stream": "yes"}""", "stream" },
        { """{"messages": [{"role": "user", "content": 7}]}""", "messages[0].content" },
        { """{"messages": "hi"}""", "messages" },
        { """{"messages": []}""", "messages" },
        { """{"messages": ["hi"]}""", "messages[0]" },
        { """{"messages": [{"role": "wizard", "content": "hi"}]}""", "messages[0].role" },
        { """{"messages": [{"content": "hi"}]}""", "messages[0].role" },
        { """{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", "messages[0].content[0].type" },
        { """{"temperature": "hot"}""", "temperature" },
        { """{"temperature": 3}""", "temperature" },
        { """{"top_p": 1.5}""", "top_p" },
        { """{"max_tokens": 0}""", "max_tokens" },
        { """{"max_tokens": -5}""", "max_tokens" },
        { """{"max_tokens": 1.5}""", "max_tokens" },
        { """{"max_completion_tokens": "many"}""", "max_completion_tokens" },
        { """{"seed": "lucky"}""", "seed" },
        { """{"n": 0}""", "n" },
        { """{"n": 17}""", "n" },
        { """{"stop": ["a", "b", "c", "d", "e"]}""", "stop" },
        { """{"stop": [1]}""", "stop[0]" },
        { """{"stop": 5}""", "stop" },
        { """{"frequency_penalty": 3}""", "frequency_penalty" },
        { """{"presence_penalty": "some"}""", "presence_penalty" },
        { """{"logit_bias": {"abc": 1}}""", "logit_bias.abc" },
        { """{"logit_bias": {"5": 500}}""", "logit_bias.5" },
        { """{"logit_bias": [1]}""", "logit_bias" },
        { """{"top_logprobs": 3}""", "top_logprobs" },
        { """{"stream_options": {"include_usage": true}}""", "stream_options" },
        { """{"stream": true, "stream_options": {"include_usage": "yes"}}""", "stream_options.include_usage" },
        { """{"frobnicate": true}""", "frobnicate" },
        { """{"tools": {"type": "function"}}""", "tools" },
        { """{"tools": []}""", "tools" },
        { """{"tools": [{"type": "custom", "function": {"name": "f"}}]}""", "tools[0].type" },
        { """{"tools": [{"type": "function"}]}""", "tools[0].function" },
        { """{"tools": [{"type": "function", "function": {"name": 7}}]}""", "tools[0].function.name" },
        { """{"tools": [{"type": "function", "function": {"name": "no spaces"}}]}""", "tools[0].function.name" },
        { """{"tools": [{"type": "function", "function": {"name": "f", "parameters": "none"}}]}""", "tools[0].function.parameters" },
        { """{"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}""", "tools[0].function.strict" },
        { """{"tools": [{"type": "function", "function": {"name": "f", "returns": {}}}]}""", "tools[0].function.returns" },
        { """{"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]}""", "tools[1].function.name" },
        { """{"tool_choice": "required"}""", "tool_choice" },
        { """{"tool_choice": "always", "tools": [{"type": "function", "function": {"name": "f"}}]}""", "tool_choice" },
        { """{"tool_choice": 1}""", "tool_choice" },
        { """{"tool_choice": {"type": "function", "function": {"name": "g"}}, "tools": [{"type": "function", "function": {"name": "f"}}]}""", "tool_choice.function.name" },
        { """{"tool_choice": {"type": "function"}, "tools": [{"type": "function", "function": {"name": "f"}}]}""", "tool_choice.function" },
        { """{"parallel_tool_calls": "no"}""", "parallel_tool_calls" },
        { """{"response_format": "json"}""", "response_format" },
        { """{"response_format": {"type": "yaml"}}""", "response_format.type" },
        { """{"response_format": {"type": "json_schema"}}""", "response_format.json_schema" },
        { """{"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}""", "response_format.json_schema.name" },
        { """{"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": []}}}""", "response_format.json_schema.schema" },
        { """{"response_format": {"type": "json_object", "schema": {}}}""", "response_format.schema" },
        { """{"messages": [{"role": "tool", "content": "42"}]}""", "messages[0].tool_call_id" },
        { """{"messages": [{"role": "user", "content": "hi", "tool_calls": []}]}""", "messages[0].tool_calls" },
        { """{"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{nope"}}]}]}""", "messages[0].tool_calls[0].function.arguments" },
        { """{"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]}""", "messages[0].tool_calls[0].function.arguments" },
        { """{"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}""", "messages[0].tool_calls[0].id" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task ChatCompletions_BadField_Is400NamingTheField(string fields, string param)
    {
        var (status, body) = await fixture.ChatAsync(JsonNode.Parse(fields)!.AsObject());

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = AssertOpenAIError(body);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]?.GetValue<string>());
        Assert.Contains(param.Split('[', '.')[0], error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_SeveralBadFields_NamesTheFirstAndListsAll()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["temperature"] = "hot", ["max_tokens"] = 0 });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = AssertOpenAIError(body);
        Assert.Equal("max_tokens", error["param"]!.GetValue<string>());
        Assert.Contains("temperature", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ nope")]
    [InlineData("[1, 2]")]
    [InlineData("\"text\"")]
    [InlineData("")]
    [InlineData("""{"model": "tiny", "model": "tiny", "messages": [{"role": "user", "content": "hi"}]}""")]
    [InlineData("""{"model": "tiny", "messages": [{"role": "user", "role": "user", "content": "hi"}]}""")]
    public async Task ChatCompletions_BodyNotAJsonObject_Is400(string text)
    {
        var (status, body) = await fixture.PostAsync(text);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", AssertOpenAIError(body)["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_BodyOverTheLimit_Is413Json()
    {
        var huge = new string('x', (int)OpenAIEndpoint.MaxRequestBytes + 10);

        var (status, body) = await fixture.ChatAsync(new JsonObject { ["user"] = huge });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("invalid_request_error", AssertOpenAIError(body)["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_UnknownModel_Is404ModelNotFound()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["model"] = "gpt-9" });

        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = AssertOpenAIError(body);
        Assert.Equal("model_not_found", error["code"]!.GetValue<string>());
        Assert.Equal("model", error["param"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ChatCompletions_PromptLongerThanTheContext_Is400ContextLengthExceeded(bool stream)
    {
        var tooLong = string.Concat(Enumerable.Repeat("tea and cake ", fixture.TinyClient.ContextSize));

        var (status, body) = await fixture.ChatAsync(new JsonObject
        {
            ["stream"] = stream,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = tooLong }),
        });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = AssertOpenAIError(body);
        Assert.Equal("context_length_exceeded", error["code"]!.GetValue<string>());
        Assert.Contains(fixture.TinyClient.ContextSize.ToString(System.Globalization.CultureInfo.InvariantCulture), error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_MessageForms_AreAccepted()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject
        {
            ["messages"] = JsonNode.Parse("""
                [{"role": "developer", "content": "Be brief."},
                 {"role": "user", "name": "ann", "content": [{"type": "text", "text": "Tell me "}, {"type": "text", "text": "about tea."}]},
                 {"role": "assistant", "content": null},
                 {"role": "user", "content": "More."}]
                """),
            ["temperature"] = null,
            ["user"] = "ann",
            ["metadata"] = new JsonObject { ["run"] = "1" },
            ["stop"] = "\n\n",
        });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("assistant", body["choices"]![0]!["message"]!["role"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_WrongMethod_Is405Json()
    {
        using var response = await fixture.Http.GetAsync(fixture.Url("/v1/chat/completions"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("method_not_allowed", AssertOpenAIError(JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject())["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/v1/completions")]
    [InlineData("/v2/chat/completions")]
    [InlineData("/")]
    public async Task UnknownRoute_Is404Json(string path)
    {
        using var response = await fixture.Http.PostAsync(fixture.Url(path), new StringContent("{}"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = AssertOpenAIError(JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
        Assert.Equal("unknown_url", error["code"]!.GetValue<string>());
        Assert.Contains(path, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    /// <summary>Asserts OpenAI's <c>{error:{message,type,param,code}}</c> (all four keys present) and returns the error.</summary>
    internal static JsonObject AssertOpenAIError(JsonObject body)
    {
        var error = Assert.IsType<JsonObject>(body["error"]);
        Assert.Equal(["code", "message", "param", "type"], error.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        return error;
    }
}
