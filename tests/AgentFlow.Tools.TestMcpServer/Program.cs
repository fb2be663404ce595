using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

// Tools: get_order answers a small order; crash ends the process mid-call (a server that dies).
var options = new McpServerOptions
{
    ServerInfo = new Implementation { Name = "orders", Version = "1.0.0" },
    ToolCollection =
    [
        McpServerTool.Create((string order_id) => $$"""{"order_id":"{{order_id}}","status":"shipped"}""", new McpServerToolCreateOptions { Name = "get_order", Description = "Look up an order by its id." }),
        McpServerTool.Create(() =>
        {
            Environment.Exit(3);
            return "unreachable";
        }, new McpServerToolCreateOptions { Name = "crash", Description = "Stops the server." }),
    ],
};

await using var server = McpServer.Create(new StdioServerTransport("orders"), options);
await server.RunAsync();
