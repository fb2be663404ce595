using AgentFlow.Execution.Tools;
using AgentFlow.Tools.Mcp;
using AgentFlow.Tools.Plugins;

namespace AgentFlow.Tools;

/// <summary>The tool kinds this assembly adds to a <see cref="Execution.WorkflowRunner"/> (<c>mcp</c>, <c>plugin</c>).</summary>
public static class ToolKinds
{
    /// <summary>A new provider of each kind. Plugin functions are named TOOL_FUNCTION (the workflow tool name, then the [KernelFunction] name).</summary>
    public static IReadOnlyList<IToolProvider> Create() => [new McpToolProvider(), new PluginToolProvider()];
}
