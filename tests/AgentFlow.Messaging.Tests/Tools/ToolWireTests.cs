using System.Text.Json;
using AgentFlow.Messaging.Contracts;
using AgentFlow.Messaging.Tools;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Tests.Tools;

/// <summary>Tool definitions, calls and results survive the trip over the bus in Microsoft.Extensions.AI's terms.</summary>
public sealed class ToolWireTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse("""{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}""").RootElement;

    [Fact]
    public void ToolsAndMode_OrchestratorToWorker_ArriveAsDeclarationsWithTheForcedName()
    {
        var options = new ChatOptions
        {
            Tools = [AIFunctionFactory.CreateDeclaration("lookup_order", "Look up an order.", Schema)],
            ToolMode = ChatToolMode.RequireSpecific("lookup_order"),
        };

        var (tools, mode) = ToolWire.ToWire(options);
        var request = new ChatStepRequest(Guid.NewGuid(), "r", "s", 1, "tiny", [new ChatStepMessage("user", "hi")], new ChatStepSampling(), DateTimeOffset.MaxValue) { Tools = tools, ToolMode = mode };
        var arrived = new ChatOptions();
        ToolWire.Apply(request, arrived);

        var declaration = Assert.IsAssignableFrom<AIFunctionDeclaration>(Assert.Single(arrived.Tools!));
        Assert.IsNotAssignableFrom<AIFunction>(declaration); // never invocable on the worker
        Assert.Equal("lookup_order", declaration.Name);
        Assert.Equal("Look up an order.", declaration.Description);
        Assert.Equal(Schema.GetRawText(), declaration.JsonSchema.GetRawText());
        Assert.Equal("lookup_order", Assert.IsType<RequiredChatToolMode>(arrived.ToolMode).RequiredFunctionName);
    }

    [Fact]
    public void ToolRound_OrchestratorToWorker_KeepsCallsAndResults()
    {
        var call = new FunctionCallContent("c1", "lookup_order", new Dictionary<string, object?> { ["order_id"] = "A-1" });
        ChatMessage[] messages =
        [
            new(ChatRole.Assistant, [call]),
            new(ChatRole.Tool, [new FunctionResultContent("c1", """{"status":"shipped"}""")]),
        ];

        var back = messages.Select(ToolWire.ToWire).Select(ToolWire.FromWire).ToList();

        var sent = Assert.IsType<FunctionCallContent>(Assert.Single(back[0].Contents));
        Assert.Equal(("c1", "lookup_order"), (sent.CallId, sent.Name));
        Assert.Equal("A-1", sent.Arguments!["order_id"]?.ToString());
        Assert.Equal(ChatRole.Tool, back[1].Role);
        var result = Assert.IsType<FunctionResultContent>(Assert.Single(back[1].Contents));
        Assert.Equal(("c1", """{"status":"shipped"}"""), (result.CallId, result.Result?.ToString()));
    }

    [Fact]
    public void NoTools_LeavesTheRequestWithoutTools()
    {
        var (tools, mode) = ToolWire.ToWire(new ChatOptions { MaxOutputTokens = 8 });

        Assert.Null(tools);
        Assert.Null(mode);
    }
}
