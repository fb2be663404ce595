using System.Text.Json;
using AgentFlow.Definitions;
using AgentFlow.Execution.Tools;
using Microsoft.Extensions.AI;

namespace AgentFlow.Core.Tests.Execution.Tools;

public sealed class HttpToolProviderTests : IDisposable
{
    private readonly HttpToolProvider _provider = new();

    public void Dispose() => _provider.Dispose();

    private async Task<AIFunction> OpenAsync(string toolYaml, IReadOnlyDictionary<string, object?>? inputs = null)
    {
        var yaml = $"""
            name: t
            version: 1
            inputs: {"{"} base: {"{"} type: string {"}"} {"}"}
            models: {"{"} w: tiny {"}"}
            tools:
              lookup:
            {toolYaml}
            steps:
              - {"{"} id: a, agent: {"{"} model: w, prompt: hi, tools: [lookup] {"}"} {"}"}
            """;
        var definition = WorkflowLoader.Parse(yaml, "t.yaml").GetDefinitionOrThrow();
        var handle = await _provider.OpenAsync(definition.Tools[0], new ToolOpenContext(definition, "run1", inputs ?? new Dictionary<string, object?>(), TimeProvider.System), CancellationToken.None);
        return Assert.Single(handle.Functions);
    }

    private static AIFunctionArguments Args(string json) =>
        new(JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!.ToDictionary(p => p.Key, p => (object?)p.Value));

    [Fact]
    public async Task Invoke_Get_CallsTheUrlWithEncodedArgumentsAndReturnsTheBody()
    {
        await using var server = LoopbackServer.Orders();
        var function = await OpenAsync($$$"""
                description: Look up an order.
                parameters: { type: object, properties: { order_id: { type: string } }, required: [order_id] }
                http: { url: "{{{server.Url}}}/orders/{{ args.order_id }}" }
            """);

        var result = await function.InvokeAsync(Args("""{"order_id":"A-1/../x"}"""));

        Assert.Equal("lookup", function.Name);
        Assert.Equal("Look up an order.", function.Description);
        Assert.Equal("/orders/A-1%2F..%2Fx", Assert.Single(server.Requests).PathAndQuery);
        Assert.Contains("\"status\":\"shipped\"", result?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_UrlFromInput_CallsThatHost()
    {
        await using var server = LoopbackServer.Orders();
        var function = await OpenAsync("""
                parameters: { type: object, properties: { order_id: { type: string } } }
                http: { url: "{{ inputs.base }}/orders/{{ args.order_id }}" }
            """, new Dictionary<string, object?> { ["base"] = server.Url });

        var result = await function.InvokeAsync(Args("""{"order_id":"A-7"}"""));

        Assert.Contains("A-7", result?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_HeaderFromEnvironment_SendsTheVariablesValue()
    {
        await using var server = LoopbackServer.Orders();
        Environment.SetEnvironmentVariable("AGENTFLOW_TEST_ORDERS_AUTH", "Bearer s3cret");
        var function = await OpenAsync($$$"""
                parameters: { type: object, properties: { order_id: { type: string } } }
                http: { url: "{{{server.Url}}}/orders/{{ args.order_id }}", headers: { Authorization: AGENTFLOW_TEST_ORDERS_AUTH } }
            """);

        await function.InvokeAsync(Args("""{"order_id":"A-1"}"""));

        Assert.Equal("Bearer s3cret", Assert.Single(server.Requests).Headers["Authorization"]);
    }

    [Fact]
    public async Task Open_HeaderVariableNotSet_ThrowsToolUnavailable()
    {
        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(() => OpenAsync("""
                parameters: { type: object }
                http: { url: "http://127.0.0.1:1/x", headers: { Authorization: AGENTFLOW_TEST_NOT_SET_ANYWHERE } }
            """));

        Assert.Contains("AGENTFLOW_TEST_NOT_SET_ANYWHERE", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_Post_SendsTheArgumentsAsJson()
    {
        await using var server = new LoopbackServer(_ => (200, "ok", null));
        var function = await OpenAsync($$$"""
                parameters: { type: object, properties: { order_id: { type: string }, amount: { type: number } } }
                http: { method: POST, url: "{{{server.Url}}}/refunds" }
            """);

        await function.InvokeAsync(Args("""{"order_id":"A-1","amount":3.5}"""));

        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("""{"order_id":"A-1","amount":3.5}""", request.Body);
    }

    [Fact]
    public async Task Invoke_RedirectToAnotherHost_IsRefusedWithoutCallingIt()
    {
        await using var other = new LoopbackServer(_ => (200, "other", null));
        await using var server = new LoopbackServer(_ => (302, string.Empty, new Dictionary<string, string> { ["Location"] = other.Url + "/steal" }));
        var function = await OpenAsync($$$"""
                parameters: { type: object }
                http: { url: "{{{server.Url}}}/x" }
            """);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await function.InvokeAsync(Args("{}")));

        Assert.Contains("redirected to another host", ex.Message, StringComparison.Ordinal);
        Assert.Empty(other.Requests);
    }

    [Fact]
    public async Task Invoke_RedirectOnTheSameHost_IsFollowed()
    {
        LoopbackServer? server = null;
        server = new LoopbackServer(r => r.Url!.AbsolutePath == "/old" ? (301, string.Empty, new Dictionary<string, string> { ["Location"] = "/new" }) : (200, "moved here", null));
        await using (server)
        {
            var function = await OpenAsync($$$"""
                    parameters: { type: object }
                    http: { url: "{{{server.Url}}}/old" }
                """);

            var result = await function.InvokeAsync(Args("{}"));

            Assert.Equal("moved here", result);
            Assert.Equal(["/old", "/new"], server.Requests.Select(r => r.PathAndQuery));
        }
    }

    [Fact]
    public async Task Invoke_ResponseLongerThanTheCap_Fails()
    {
        await using var server = new LoopbackServer(_ => (200, new string('x', 2000), null));
        var function = await OpenAsync($$$"""
                parameters: { type: object }
                http: { url: "{{{server.Url}}}/big", max_response_bytes: 1000 }
            """);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await function.InvokeAsync(Args("{}")));

        Assert.Contains("max_response_bytes (1000)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_ErrorStatus_ThrowsWithStatusAndBody()
    {
        await using var server = LoopbackServer.Orders();
        var function = await OpenAsync($$$"""
                parameters: { type: object, properties: { order_id: { type: string } } }
                http: { url: "{{{server.Url}}}/orders/{{ args.order_id }}" }
            """);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(async () => await function.InvokeAsync(Args("""{"order_id":"Z-9"}""")));

        Assert.Contains("HTTP 404", ex.Message, StringComparison.Ordinal);
        Assert.Contains("no order Z-9", ex.Message, StringComparison.Ordinal);
    }
}
