using AgentFlow.Execution;
using AgentFlow.Execution.Tools;

namespace AgentFlow.Core.Tests.Execution.Tools;

/// <summary>Runs with tools on the real built-in tiny model: the run's tools are opened, offered and released.</summary>
public sealed class ToolRunTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task RunAsync_StepWithHttpToolAndAutoChoice_Succeeds()
    {
        await using var server = LoopbackServer.Orders();
        var record = await tiny.RunAsync($$$"""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              lookup_order:
                description: Look up an order by its id.
                parameters: { type: object, properties: { order_id: { type: string, pattern: "^[A-Z0-9-]{1,20}$" } }, required: [order_id] }
                http: { url: "{{{server.Url}}}/orders/{{ args.order_id }}", timeout: 5s }
            steps:
              - id: resolve
                agent: { model: writer, prompt: "Where is order A-1?", tools: [lookup_order], tool_choice: auto, max_tool_calls: 2, max_tokens: 8, temperature: 0 }
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var step = Assert.Single(record.Steps);
        Assert.False(string.IsNullOrEmpty(step.Output));
        // The tiny model's own text is gibberish: any call it makes is recorded, and every recorded call has a result hash.
        Assert.All(step.ToolCallsSnapshot(), c => Assert.NotNull(c.ResultSha256));
    }

    [Fact]
    public async Task RunAsync_HeaderVariableNotSet_FailsBeforeAnyStep()
    {
        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(() => tiny.RunAsync("""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              lookup_order:
                parameters: { type: object }
                http: { url: "http://127.0.0.1:1/orders", headers: { Authorization: AGENTFLOW_TEST_UNSET_TOKEN } }
            steps:
              - { id: resolve, agent: { model: writer, prompt: hi, tools: [lookup_order] } }
            """));

        Assert.Contains("AGENTFLOW_TEST_UNSET_TOKEN", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ToolKindThisHostCannotRun_FailsNamingIt()
    {
        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(() => tiny.RunAsync("""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              files: { mcp: { command: [dotnet, server.dll] } }
            steps:
              - { id: resolve, agent: { model: writer, prompt: hi, tools: [files] } }
            """));

        Assert.Contains("tool 'files' is a mcp tool", ex.Message, StringComparison.Ordinal);
    }
}
