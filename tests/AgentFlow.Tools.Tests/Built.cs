namespace AgentFlow.Tools.Tests;

/// <summary>Where the test server and plugin projects put their builds (same configuration and layout as this project).</summary>
internal static class Built
{
    public static string Output(string project, string file) =>
        Path.GetFullPath(AppContext.BaseDirectory.Replace("AgentFlow.Tools.Tests", project, StringComparison.Ordinal) + file);

    public static string McpServer => Output("AgentFlow.Tools.TestMcpServer", "AgentFlow.Tools.TestMcpServer.dll");

    public static string Plugin => Output("AgentFlow.Tools.TestPlugin", "AgentFlow.Tools.TestPlugin.dll");

    public static Definitions.WorkflowDefinition Workflow(string toolYaml) =>
        Definitions.WorkflowLoader.Parse($$"""
            name: t
            version: 1
            models: { w: tiny }
            tools:
              t:
            {{toolYaml}}
            steps:
              - { id: a, agent: { model: w, prompt: hi, tools: [t] } }
            """, Path.Combine(AppContext.BaseDirectory, "t.yaml")).GetDefinitionOrThrow();

    public static Execution.Tools.ToolOpenContext Context(Definitions.WorkflowDefinition definition) =>
        new(definition, "run1", new Dictionary<string, object?>(), TimeProvider.System);
}
