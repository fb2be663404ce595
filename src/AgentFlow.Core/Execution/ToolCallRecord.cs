using System.Security.Cryptography;
using System.Text;

namespace AgentFlow.Execution;

/// <summary>
/// One tool call an agent step's model made, as the run record, transcript and audit chain keep it: the arguments as
/// the model gave them, the result (capped at <see cref="MaxRecordedResultChars"/>, with the SHA-256 and size of the
/// whole result), latency, error and approval. Secrets never appear: tools read them from environment variables.
/// </summary>
public sealed class ToolCallRecord
{
    /// <summary>Most characters of a result kept in the record; the hash covers all of it.</summary>
    public const int MaxRecordedResultChars = 4096;

    /// <summary>The tool's name as the model called it.</summary>
    public required string Name { get; init; }

    /// <summary>The workflow tool it belongs to (the <c>tools:</c> key; differs from <see cref="Name"/> for MCP servers and plugins).</summary>
    public string? Tool { get; init; }

    /// <summary>The model's id for the call, when it gave one.</summary>
    public string? CallId { get; init; }

    /// <summary>The arguments as compact JSON.</summary>
    public required string Arguments { get; init; }

    /// <summary>When the call was made.</summary>
    public required DateTimeOffset Started { get; init; }

    /// <summary>
    /// <c>running</c>, <c>succeeded</c>, <c>failed</c> (the model got the error), <c>refused</c> (not run: invalid
    /// arguments, rejected, limit reached), or for a tool with <c>approve: true</c> <c>waiting</c> (the run is parked
    /// before the call) and <c>approved</c> (decided, about to run).
    /// </summary>
    public string Status { get; set; } = "running";

    /// <summary>How long the call took in milliseconds.</summary>
    public double LatencyMs { get; set; }

    /// <summary>The result as sent back to the model, cut at <see cref="MaxRecordedResultChars"/>.</summary>
    public string? Result { get; set; }

    /// <summary>Lowercase hex SHA-256 of the whole result (UTF-8).</summary>
    public string? ResultSha256 { get; set; }

    /// <summary>Size of the whole result in UTF-8 bytes.</summary>
    public int? ResultBytes { get; set; }

    /// <summary>Whether <see cref="Result"/> was cut.</summary>
    public bool ResultTruncated { get; set; }

    /// <summary>Why the call failed or was refused.</summary>
    public string? Error { get; set; }

    /// <summary>A person's decision on the call, for tools with <c>approve: true</c>.</summary>
    public ApprovalRecord? Approval { get; set; }

    /// <summary>The run whose recorded result this call reused instead of calling the tool (replays).</summary>
    public string? ReplayedFrom { get; set; }

    /// <summary>The child run a workflow tool started.</summary>
    public string? ChildRunId { get; set; }

    /// <summary>What a retrieve tool's call searched and the chunks it found (ids, sources, scores, text); null for other tools.</summary>
    public RetrievalRecord? Retrieval { get; set; }

    /// <summary>Sets <see cref="Result"/>, its hash, size and truncation from the whole result.</summary>
    public void SetResult(string result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var bytes = Encoding.UTF8.GetBytes(result);
        ResultBytes = bytes.Length;
        ResultSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        ResultTruncated = result.Length > MaxRecordedResultChars;
        Result = ResultTruncated ? result[..MaxRecordedResultChars] : result;
    }
}
