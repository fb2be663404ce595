using AgentFlow.Execution.Tools;
using AgentFlow.Tools.Plugins;
using Microsoft.Extensions.AI;

namespace AgentFlow.Tools.Tests.Plugins;

/// <summary>Against a real Semantic Kernel plugin assembly built with the tests and loaded from its file.</summary>
public sealed class PluginToolProviderTests
{
    private static Task<ToolHandle> OpenAsync(string type = "OrdersPlugin")
    {
        var definition = Built.Workflow($$"""
                plugin: { assembly: "{{Built.Plugin}}", class: {{type}} }
            """);
        return new PluginToolProvider().OpenAsync(definition.Tools[0], Built.Context(definition), CancellationToken.None);
    }

    [Fact]
    public async Task Open_PluginClass_ExposesEachKernelFunction()
    {
        await using var handle = await OpenAsync();

        Assert.Equal(["t_add", "t_order_status"], handle.Functions.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Equal("Adds two integers.", handle.Functions.Single(f => f.Name == "t_add").Description);
        Assert.Contains("orderId", handle.Functions.Single(f => f.Name == "t_order_status").JsonSchema.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_KernelFunction_RunsTheMethod()
    {
        await using var handle = await OpenAsync("AgentFlow.Tools.TestPlugin.OrdersPlugin");

        var sum = await handle.Functions.Single(f => f.Name == "t_add").InvokeAsync(new AIFunctionArguments { ["a"] = 2, ["b"] = 3 });
        var status = await handle.Functions.Single(f => f.Name == "t_order_status").InvokeAsync(new AIFunctionArguments { ["orderId"] = "A-9" });

        Assert.Equal("5", sum?.ToString());
        Assert.Equal("order A-9 is shipped", status?.ToString());
    }

    [Fact]
    public async Task Open_UnknownClass_ThrowsToolUnavailableListingTheClasses()
    {
        var ex = await Assert.ThrowsAsync<ToolUnavailableException>(() => OpenAsync("Nope"));

        Assert.Contains("no public class 'Nope'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("AgentFlow.Tools.TestPlugin.OrdersPlugin", ex.Message, StringComparison.Ordinal);
    }
}
