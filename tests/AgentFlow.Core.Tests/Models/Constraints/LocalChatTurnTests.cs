using System.Text.Json;
using AgentFlow.Models.Constraints;
using Microsoft.Extensions.AI;

namespace AgentFlow.Core.Tests.Models.Constraints;

public sealed class LocalChatTurnTests
{
    private static AIFunctionDeclaration Lookup { get; } = AIFunctionFactory.CreateDeclaration(
        "lookup_order", "Look up an order.", JsonDocument.Parse("""{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}""").RootElement);

    [Fact]
    public void Create_HistoryWithCallAndResult_RendersToolsCallAndResponseAsText()
    {
        ChatMessage[] messages =
        [
            new(ChatRole.System, "Be brief."),
            new(ChatRole.User, "Where is ORD-1?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "lookup_order", new Dictionary<string, object?> { ["order_id"] = "ORD-1" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "shipped")]),
        ];

        var turn = LocalChatTurn.Create(messages, new ChatOptions { Tools = [Lookup] });

        Assert.Equal(["system", "user", "assistant", "user"], turn.Messages.Select(m => m.Role));
        Assert.StartsWith("Be brief.\n\n# Tools", turn.Messages[0].Content, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"lookup_order\"", turn.Messages[0].Content, StringComparison.Ordinal);
        Assert.Equal("<tool_call>\n{\"name\":\"lookup_order\",\"arguments\":{\"order_id\":\"ORD-1\"}}\n</tool_call>", turn.Messages[2].Content);
        Assert.Equal("<tool_response>\nshipped\n</tool_response>", turn.Messages[3].Content);
    }

    [Fact]
    public void Create_ToolModeNone_ListsNoToolsAndIsUnconstrained()
    {
        var turn = LocalChatTurn.Create([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { Tools = [Lookup], ToolMode = ChatToolMode.None });

        Assert.False(turn.IsConstrained);
        Assert.False(turn.MayCall);
        Assert.Equal("user", Assert.Single(turn.Messages).Role);
    }

    [Fact]
    public void Create_RequiredUnknownTool_ThrowsNamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => LocalChatTurn.Create([], new ChatOptions { Tools = [Lookup], ToolMode = ChatToolMode.RequireSpecific("nope") }));

        Assert.Contains("'nope'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadAnswer_WellFormedCall_GivesFunctionCallWithParsedArguments()
    {
        var turn = LocalChatTurn.Create([], new ChatOptions { Tools = [Lookup] });

        var contents = turn.ReadAnswer("<tool_call>\n{\"name\":\"lookup_order\",\"arguments\":{\"order_id\":\"A-1\"}}\n</tool_call>");

        var call = Assert.IsType<FunctionCallContent>(Assert.Single(contents));
        Assert.Equal("lookup_order", call.Name);
        Assert.Equal("A-1", ((JsonElement)call.Arguments!["order_id"]!).GetString());
    }

    [Fact]
    public void ReadAnswer_BrokenCall_StaysText()
    {
        var turn = LocalChatTurn.Create([], new ChatOptions { Tools = [Lookup] });

        var contents = turn.ReadAnswer("<tool_call>\n{\"name\":\n</tool_call>");

        Assert.IsType<TextContent>(Assert.Single(contents));
    }
}
