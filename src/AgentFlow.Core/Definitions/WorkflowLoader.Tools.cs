using AgentFlow.Definitions.Yaml;
using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

public static partial class WorkflowLoader
{
    /// <summary>Most tool calls an agent step may allow per attempt.</summary>
    public const int MaxToolCallsLimit = 100;

    private static readonly string[] ToolKinds = ["http", "workflow", "mcp", "plugin", "retrieve"];
    private static readonly string[] ToolKeys = ["description", "parameters", "approve", .. ToolKinds];
    private static readonly string[] HttpToolKeys = ["method", "url", "body", "headers", "timeout", "max_response_bytes"];
    private static readonly string[] HttpMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    private static readonly string[] WorkflowToolKeys = ["file"];
    private static readonly string[] McpToolKeys = ["command", "url", "env", "timeout"];
    private static readonly string[] PluginToolKeys = ["assembly", "class"];
    private static readonly string[] RetrieveToolKeys = ["collection", "top_k", "min_score"];

    /// <summary>The top-level <c>tools:</c> section and the tool keys of agent steps. Codes AF0400–AF0409.</summary>
    private sealed partial class Reader
    {
        private List<ToolDefinition> ReadTools(YamlTreeNode node)
        {
            var result = new List<ToolDefinition>();
            if (Mapping(node, "tools", "map each tool name to { description, parameters, http: { ... } }", allowNull: true) is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Entries)
            {
                var name = keyNode.Value;
                if (!IdentifierPattern().IsMatch(name) || name.Length > 64)
                {
                    Error(keyNode.Start, "AF0400", $"invalid tool name '{name}'", "use letters, digits and '_', not starting with a digit, at most 64 characters (models call it by this name)");
                }

                if (Mapping(valueNode, $"tool '{name}'", "e.g. { description: ..., parameters: { type: object }, http: { url: \"...\" } }") is not { } spec)
                {
                    continue;
                }

                if (ReadTool(name, At(keyNode.Start), spec) is { } tool)
                {
                    result.Add(tool);
                }
            }

            return result;
        }

        private ToolDefinition? ReadTool(string name, SourceLocation location, YamlTreeMapping spec)
        {
            var keys = Keys(spec, ToolKeys, $"tool '{name}'");
            var kinds = ToolKinds.Where(keys.ContainsKey).ToList();
            if (kinds.Count == 0)
            {
                Error(spec.Start, "AF0401", $"tool '{name}' has no kind", "add exactly one of: http, workflow, mcp, plugin, retrieve");
                return null;
            }

            if (kinds.Count > 1)
            {
                Error(keys[kinds[1]].Start, "AF0401", $"tool '{name}' has several kinds ({string.Join(", ", kinds)})", "a tool is exactly one of http, workflow, mcp, plugin, retrieve: declare several tools");
            }

            var description = keys.TryGetValue("description", out var descriptionNode) ? OptionalScalar(descriptionNode, "description") : null;
            var approve = keys.TryGetValue("approve", out var approveNode) && (Bool(approveNode, "approve") ?? false);
            var kindNode = keys[kinds[0]];
            ToolSource? source = kinds[0] switch
            {
                "http" => ReadHttpTool(name, kindNode),
                "workflow" => ReadWorkflowTool(name, kindNode),
                "mcp" => ReadMcpTool(name, kindNode),
                "retrieve" => ReadRetrieveTool(name, kindNode),
                _ => ReadPluginTool(name, kindNode),
            };

            System.Text.Json.Nodes.JsonObject? parameters = null;
            if (keys.TryGetValue("parameters", out var parametersNode))
            {
                if (kinds[0] is "mcp" or "plugin" or "retrieve")
                {
                    Error(parametersNode.Start, "AF0402", $"tool '{name}' declares parameters, but {kinds[0]} tools bring their own schemas", kinds[0] == "retrieve" ? "remove parameters: (a retrieve tool takes one argument, query)" : "remove parameters:");
                }
                else if (Mapping(parametersNode, $"the parameters of tool '{name}'", "parameters: { type: object, properties: { order_id: { type: string } }, required: [order_id] }") is { } schema)
                {
                    parameters = (System.Text.Json.Nodes.JsonObject)YamlJson.ToJson(schema)!;
                }
            }
            else if (kinds[0] is "http" or "workflow")
            {
                Error(spec.Start, "AF0103", $"tool '{name}' is missing required key 'parameters'", "add parameters: { type: object, properties: { ... }, required: [ ... ] } (the JSON Schema of its arguments)");
            }

            return source is null ? null : new ToolDefinition(name, location)
            {
                Description = description,
                Parameters = parameters,
                ParametersLocation = parametersNode is null ? null : At(parametersNode.Start),
                Approve = approve,
                Source = source,
            };
        }

        private HttpToolSource? ReadHttpTool(string name, YamlTreeNode node)
        {
            if (Mapping(node, $"the http block of tool '{name}'", "http: { method: GET, url: \"http://127.0.0.1:8099/orders/{{ args.order_id }}\", timeout: 5s }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, HttpToolKeys, $"the http block of tool '{name}'");
            Require(map, keys, "url", $"the http block of tool '{name}'", "url: \"http://host/path/{{ args.id }}\"");
            var method = "GET";
            if (keys.TryGetValue("method", out var methodNode) && Scalar(methodNode, "method") is { } methodText)
            {
                method = methodText.ToUpperInvariant();
                if (!HttpMethods.Contains(method, StringComparer.Ordinal))
                {
                    Error(methodNode.Start, "AF0105", $"unknown HTTP method '{methodText}'" + NameSuggestion.DidYouMean(method, HttpMethods), $"use one of {string.Join(", ", HttpMethods)}");
                    method = "GET";
                }
            }

            var url = keys.TryGetValue("url", out var urlNode) ? Template(urlNode, "url", required: true) : null;
            var body = keys.TryGetValue("body", out var bodyNode) ? Template(bodyNode, "body") : null;
            if (body is not null && method is "GET" or "DELETE")
            {
                Error(bodyNode!.Start, "AF0105", $"tool '{name}' sends a body with {method}", "remove body:, or use method: POST");
            }

            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (keys.TryGetValue("headers", out var headersNode) && Mapping(headersNode, "headers", "headers: { Authorization: ORDERS_API_AUTH } (header: NAME of an environment variable)") is { } headerMap)
            {
                foreach (var (headerNode, envNode) in headerMap.Entries)
                {
                    if (Scalar(envNode, $"headers.{headerNode.Value}") is not { } envName)
                    {
                        continue;
                    }

                    if (!EnvironmentVariablePattern().IsMatch(envName))
                    {
                        // A value that is not a variable name is most likely the secret itself, pasted into the file.
                        Error(envNode.Start, "AF0403", $"header '{headerNode.Value}' of tool '{name}' must name an environment variable, not hold a value",
                            "write the variable's name, e.g. Authorization: ORDERS_API_AUTH, and export ORDERS_API_AUTH='Bearer …' (secrets never go in workflow files)");
                        continue;
                    }

                    headers[headerNode.Value] = envName;
                }
            }

            var timeout = keys.TryGetValue("timeout", out var timeoutNode) ? Timeout(timeoutNode) : null;
            var max = keys.TryGetValue("max_response_bytes", out var maxNode) ? Int(maxNode, "max_response_bytes", 1, 16 * 1024 * 1024) : null;
            return url is null ? null : new HttpToolSource(At(map.Start))
            {
                Method = method,
                Url = url,
                Body = body,
                Headers = headers,
                Timeout = timeout ?? HttpToolSource.DefaultTimeout,
                MaxResponseBytes = max ?? HttpToolSource.DefaultMaxResponseBytes,
            };
        }

        private WorkflowToolSource? ReadWorkflowTool(string name, YamlTreeNode node)
        {
            if (Mapping(node, $"the workflow block of tool '{name}'", "workflow: { file: refund.yaml }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, WorkflowToolKeys, $"the workflow block of tool '{name}'");
            Require(map, keys, "file", $"the workflow block of tool '{name}'", "file: other.yaml");
            var file = keys.TryGetValue("file", out var fileNode) ? Scalar(fileNode, "file") : null;
            return string.IsNullOrWhiteSpace(file) ? null : new WorkflowToolSource(file, At(fileNode!.Start));
        }

        private McpToolSource? ReadMcpTool(string name, YamlTreeNode node)
        {
            if (Mapping(node, $"the mcp block of tool '{name}'", "mcp: { command: [\"dotnet\", \"server.dll\"] } or mcp: { url: http://127.0.0.1:3001/mcp }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, McpToolKeys, $"the mcp block of tool '{name}'");
            var command = keys.TryGetValue("command", out var commandNode) ? Strings(commandNode, "command") : [];
            Uri? url = null;
            if (keys.TryGetValue("url", out var urlNode) && Scalar(urlNode, "url") is { } urlText)
            {
                if (!Uri.TryCreate(urlText, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https") || url.UserInfo.Length > 0)
                {
                    Error(urlNode.Start, "AF0404", $"the mcp url of tool '{name}' must be an absolute http(s) URL without credentials, got '{urlText}'", "e.g. url: http://127.0.0.1:3001/mcp");
                    url = null;
                }
            }

            if ((commandNode is null) == (urlNode is null))
            {
                Error(map.Start, "AF0404", $"the mcp block of tool '{name}' needs exactly one of command and url", "command: [\"node\", \"server.js\"] starts a stdio server; url: http://host/mcp reaches an HTTP one");
            }
            else if (commandNode is not null && command.Count == 0)
            {
                Error(commandNode.Start, "AF0404", $"the mcp command of tool '{name}' is empty", "command: [\"node\", \"server.js\"]");
            }

            var env = keys.TryGetValue("env", out var envNode) ? Strings(envNode, "env") : [];
            foreach (var variable in env.Where(v => !EnvironmentVariablePattern().IsMatch(v)))
            {
                Error(envNode!.Start, "AF0403", $"'{variable}' in the mcp env of tool '{name}' is not an environment variable name", "list names of variables to pass on, e.g. env: [GITHUB_TOKEN]");
            }

            var timeout = keys.TryGetValue("timeout", out var timeoutNode) ? Timeout(timeoutNode) : null;
            return new McpToolSource(At(map.Start)) { Command = command, Url = url, Env = env, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        }

        private PluginToolSource? ReadPluginTool(string name, YamlTreeNode node)
        {
            if (Mapping(node, $"the plugin block of tool '{name}'", "plugin: { assembly: plugins/Orders.dll, class: OrdersPlugin }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, PluginToolKeys, $"the plugin block of tool '{name}'");
            Require(map, keys, "assembly", $"the plugin block of tool '{name}'", "assembly: plugins/Orders.dll");
            Require(map, keys, "class", $"the plugin block of tool '{name}'", "class: OrdersPlugin");
            var assembly = keys.TryGetValue("assembly", out var assemblyNode) ? Scalar(assemblyNode, "assembly") : null;
            var type = keys.TryGetValue("class", out var classNode) ? Scalar(classNode, "class") : null;
            return assembly is null || type is null ? null : new PluginToolSource(assembly, type, At(map.Start));
        }

        // The query comes from the model (the tool's one argument); the file fixes what is searched and how much comes back.
        private RetrieveToolSource? ReadRetrieveTool(string name, YamlTreeNode node)
        {
            if (Mapping(node, $"the retrieve block of tool '{name}'", "retrieve: { collection: kb, top_k: 4 }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, RetrieveToolKeys, $"the retrieve block of tool '{name}'");
            if (!keys.ContainsKey("collection"))
            {
                Error(map.Start, "AF0500", $"retrieve tool '{name}' has no 'collection'", "collection: NAME (a collection of agentflow.yaml, or one made by agentflow index DIR --collection NAME)");
            }

            var collection = keys.TryGetValue("collection", out var collectionNode) ? Scalar(collectionNode, "collection") : null;
            if (collection is not null && !Models.CollectionSpec.IsValidName(collection))
            {
                Error(collectionNode!.Start, "AF0502", $"invalid collection name '{collection}'", "use up to 48 letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
            }

            // Kept with a missing or bad collection (already reported), so steps naming the tool do not also report it unknown.
            var topK = keys.TryGetValue("top_k", out var topKNode) ? Int(topKNode, "top_k", 1, RetrieveStepDefinition.MaxTopK) : null;
            var minScore = keys.TryGetValue("min_score", out var minScoreNode) ? Number(minScoreNode, "min_score", -1, 1) : null;
            return new RetrieveToolSource(collection ?? string.Empty, At(map.Start))
            {
                CollectionLocation = collectionNode is null ? At(map.Start) : At(collectionNode.Start),
                TopK = (int?)topK ?? RetrieveStepDefinition.DefaultTopK,
                MinScore = minScore,
            };
        }

        private ToolChoiceDefinition? ReadToolChoice(YamlTreeNode node)
        {
            if (Scalar(node, "tool_choice") is not { } text)
            {
                return null;
            }

            var location = At(node.Start);
            return text switch
            {
                "auto" or "required" or "none" => new ToolChoiceDefinition(text, null, location),
                _ => new ToolChoiceDefinition("tool", text, location), // a tool name: checked against the step's tools by the validator
            };
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    internal static partial System.Text.RegularExpressions.Regex EnvironmentVariablePattern();
}
