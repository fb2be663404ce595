using AgentFlow.Execution.Tools;
using AgentFlow.Tools.Mcp;
using Microsoft.Extensions.AI;

namespace AgentFlow.Tools.Tests.Mcp;

/// <summary>Against a real MCP server (written with the C# SDK) started over stdio.</summary>
public sealed class McpToolProviderTests
{
    private static Task<ToolHandle> OpenAsync()
    {
        var definition = Built.Workflow($$"""
                mcp: { command: [dotnet, "{{Built.McpServer}}"], timeout: 20s }
            """);
        return new McpToolProvider().OpenAsync(definition.Tools[0], Built.Context(definition), CancellationToken.None);
    }

    [Fact]
    public async Task Open_StdioServer_ListsItsToolsWithTheirSchemas()
    {
        await using var handle = await OpenAsync();

        Assert.Equal(["crash", "get_order"], handle.Functions.Select(f => f.Name).Order(StringComparer.Ordinal));
        var getOrder = handle.Functions.Single(f => f.Name == "get_order");
        Assert.Equal("Look up an order by its id.", getOrder.Description);
        Assert.Contains("order_id", getOrder.JsonSchema.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_Tool_ReturnsTheServersAnswer()
    {
        await using var handle = await OpenAsync();
        var getOrder = handle.Functions.Single(f => f.Name == "get_order");

        var result = await getOrder.InvokeAsync(new AIFunctionArguments { ["order_id"] = "A-1" });

        Assert.Contains("shipped", result?.ToString(), StringComparison.Ordinal);
        Assert.Contains("A-1", result?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_ServerDiesMidCall_ThrowsToolUnavailable()
    {
        await using var handle = await OpenAsync();
        var crash = handle.Functions.Single(f => f.Name == "crash");

        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(async () => await crash.InvokeAsync(new AIFunctionArguments()));

        Assert.Contains("stopped during a call of 'crash'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_CommandThatDoesNotExist_ThrowsToolUnavailable()
    {
        var definition = Built.Workflow("""
                mcp: { command: [agentflow-no-such-program-xyz] }
            """);

        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(() => new McpToolProvider().OpenAsync(definition.Tools[0], Built.Context(definition), CancellationToken.None));

        Assert.Contains("could not be started", ex.Message, StringComparison.Ordinal);
    }
}
