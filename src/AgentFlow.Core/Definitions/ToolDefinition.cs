using System.Text.Json.Nodes;
using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

/// <summary>
/// A tool declared under the workflow's top-level <c>tools:</c>, which agent steps offer their model by name
/// (<c>tools: [lookup_order]</c>). Exactly one <see cref="Source"/> says what a call does.
/// </summary>
/// <param name="Name">The name steps and models use (<c>^[A-Za-z_][A-Za-z0-9_]*$</c>).</param>
/// <param name="Location">Where the tool is declared.</param>
public sealed record ToolDefinition(string Name, SourceLocation Location)
{
    /// <summary>What the tool does, shown to the model.</summary>
    public string? Description { get; init; }

    /// <summary>JSON Schema of the arguments (an object schema); null for MCP servers, plugins and retrieve tools, which bring their own.</summary>
    public JsonObject? Parameters { get; init; }

    /// <summary>Where <c>parameters</c> is written, for errors about the schema.</summary>
    public SourceLocation? ParametersLocation { get; init; }

    /// <summary>A person approves each call before it runs (the run parks).</summary>
    public bool Approve { get; init; }

    /// <summary>What a call does: an HTTP request, a child workflow run, an MCP server's tools or a plugin's functions.</summary>
    public required ToolSource Source { get; init; }
}

/// <summary>The kind of a tool and its settings.</summary>
/// <param name="Location">Where the kind's block is written.</param>
public abstract record ToolSource(SourceLocation Location)
{
    /// <summary>The YAML key of the kind (<c>http</c>, <c>workflow</c>, <c>mcp</c>, <c>plugin</c>, <c>retrieve</c>).</summary>
    public abstract string Kind { get; }
}

/// <summary>An HTTP request per call (<c>http: { method, url, body, headers, timeout, max_response_bytes }</c>).</summary>
/// <param name="Location">Where the block is written.</param>
public sealed record HttpToolSource(SourceLocation Location) : ToolSource(Location)
{
    /// <summary>Most response bytes read when the tool sets no <c>max_response_bytes</c> (64 KiB).</summary>
    public const int DefaultMaxResponseBytes = 64 * 1024;

    /// <summary>Time allowed for one call when the tool sets no <c>timeout</c>.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public override string Kind => "http";

    /// <summary>HTTP method (upper case): GET, POST, PUT, PATCH or DELETE.</summary>
    public string Method { get; init; } = "GET";

    /// <summary>URL template (Liquid over <c>args</c> and <c>inputs</c>; <c>args</c> values are URL-encoded).</summary>
    public required TemplateText Url { get; init; }

    /// <summary>Body template (Liquid over <c>args</c> and <c>inputs</c>); null sends the arguments as JSON for methods with a body.</summary>
    public TemplateText? Body { get; init; }

    /// <summary>Request headers: header name → the <b>name</b> of the environment variable holding its value.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Time allowed for one call.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>Most response bytes read; a longer response fails the call.</summary>
    public int MaxResponseBytes { get; init; } = DefaultMaxResponseBytes;
}

/// <summary>Another workflow file run as a child run per call: the arguments are its inputs, its outputs the result.</summary>
/// <param name="File">The workflow file, relative to the declaring workflow's folder.</param>
/// <param name="Location">Where the block is written.</param>
public sealed record WorkflowToolSource(string File, SourceLocation Location) : ToolSource(Location)
{
    /// <inheritdoc />
    public override string Kind => "workflow";
}

/// <summary>Every tool a Model Context Protocol server lists, over stdio (<see cref="Command"/>) or HTTP (<see cref="Url"/>).</summary>
/// <param name="Location">Where the block is written.</param>
public sealed record McpToolSource(SourceLocation Location) : ToolSource(Location)
{
    /// <inheritdoc />
    public override string Kind => "mcp";

    /// <summary>The server's command line (program first), started per run; empty for an HTTP server.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>The server's URL (Streamable HTTP or SSE); null for a stdio server.</summary>
    public Uri? Url { get; init; }

    /// <summary>Names of environment variables passed on to a stdio server (besides the defaults the SDK passes).</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    /// <summary>Time allowed for one call (default 60 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>The <c>[KernelFunction]</c> methods of a Semantic Kernel plugin class in a .NET assembly.</summary>
/// <param name="Assembly">The assembly file, relative to the declaring workflow's folder.</param>
/// <param name="Class">The plugin class (full or simple name).</param>
/// <param name="Location">Where the block is written.</param>
public sealed record PluginToolSource(string Assembly, string Class, SourceLocation Location) : ToolSource(Location)
{
    /// <inheritdoc />
    public override string Kind => "plugin";
}

/// <summary>
/// A search of a collection (<c>retrieve: { collection: kb, top_k: 4, min_score: 0.3 }</c>): the model passes a
/// <c>query</c> argument (the schema is generated) and gets the ranked chunks as JSON.
/// </summary>
/// <param name="Collection">The collection searched.</param>
/// <param name="Location">Where the block is written.</param>
public sealed record RetrieveToolSource(string Collection, SourceLocation Location) : ToolSource(Location)
{
    /// <inheritdoc />
    public override string Kind => "retrieve";

    /// <summary>Where the collection is named, for errors about it.</summary>
    public required SourceLocation CollectionLocation { get; init; }

    /// <summary>How many chunks at most, best first.</summary>
    public int TopK { get; init; } = RetrieveStepDefinition.DefaultTopK;

    /// <summary>Chunks scoring below this cosine similarity are dropped; null keeps all <see cref="TopK"/>.</summary>
    public double? MinScore { get; init; }
}

/// <summary>How an agent step lets its model use its tools (<c>tool_choice</c>).</summary>
/// <param name="Mode"><c>auto</c>, <c>required</c>, <c>none</c>, or <c>tool</c> for one named tool.</param>
/// <param name="ToolName">The tool a <c>tool</c> mode forces; null otherwise.</param>
/// <param name="Location">Where it is written.</param>
public sealed record ToolChoiceDefinition(string Mode, string? ToolName, SourceLocation Location);
