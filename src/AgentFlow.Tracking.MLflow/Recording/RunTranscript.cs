using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Tracking.MLflow.Audit;

namespace AgentFlow.Tracking.MLflow.Recording;

/// <summary>
/// The artifacts a run leaves for reviewers: <c>transcript.json</c> (every step and attempt: prompts, answer, model,
/// worker, timings, tokens, cost, error) and <c>audit.json</c>, a SHA-256 chain over the steps — each step's hash
/// covers the previous hash, so altering any recorded step changes every hash after it and the head hash kept as a
/// run tag.
/// </summary>
public static class RunTranscript
{
    /// <summary>Run tag holding the audit chain's head hash.</summary>
    public const string HeadTag = "agentflow.audit_head";

    /// <summary>Artifact with every step and attempt.</summary>
    public const string TranscriptPath = "transcript.json";

    /// <summary>Artifact with each step's chain hash.</summary>
    public const string AuditPath = "audit.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The transcript of <paramref name="record"/> as JSON (the steps carry their chain hashes).</summary>
    public static JsonObject Build(RunRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var steps = new JsonArray();
        var previous = Genesis(record.RunId);
        var (stepRecords, outputValues) = record.Snapshot(); // the run may still be adding steps
        foreach (var step in stepRecords)
        {
            var entry = Step(step, record.Models.GetValueOrDefault(step.Model ?? string.Empty)?.FileSha256);
            if (step.ReplayedFrom is { } replayedFrom)
            {
                // Only on replayed steps, so the canonical form (and audit hashes) of every other step is unchanged.
                entry["replayed_from"] = replayedFrom;
            }

            if (step.ChildRunId is { } childRun)
            {
                // Only on workflow steps (the child run they started), so the canonical form of every other step is unchanged.
                entry["child_run"] = childRun;
            }

            if (step.ToolCalls is not null)
            {
                // Only on steps whose model called tools, so the canonical form of every other step is unchanged.
                entry["tool_calls"] = ToolCalls(step);
            }

            previous = Hash(previous, entry);
            entry["hash"] = previous;
            steps.Add(entry);
        }

        var outputs = new JsonObject();
        foreach (var (name, value) in outputValues)
        {
            outputs[name] = value;
        }

        var models = new JsonObject();
        foreach (var (name, model) in record.Models)
        {
            models[name] = new JsonObject { ["provider"] = model.Provider, ["description"] = model.Description, ["sha256"] = model.FileSha256 };
        }

        var bindings = new JsonObject();
        foreach (var (alias, model) in record.Bindings)
        {
            bindings[alias] = model;
        }

        var inputs = new JsonObject();
        foreach (var (name, value) in record.Inputs)
        {
            inputs[name] = value?.DeepClone();
        }

        return new JsonObject
        {
            ["run_id"] = record.RunId,
            ["workflow"] = record.Workflow,
            ["workflow_version"] = record.WorkflowVersion,
            ["definition_sha256"] = record.DefinitionSha256,
            ["status"] = record.Status.ToString().ToLowerInvariant(),
            ["started"] = Time(record.Started),
            ["ended"] = record.Ended is { } ended ? Time(ended) : null,
            ["conversation_id"] = record.ConversationId,
            ["parent_run"] = record.ParentRunId,
            ["inputs"] = inputs,
            ["bindings"] = bindings,
            ["models"] = models,
            ["outputs"] = outputs,
            ["error"] = record.Error is null ? null : new JsonObject { ["step"] = record.Error.StepId, ["message"] = record.Error.Message },
            ["steps"] = steps,
            ["audit_head"] = previous,
        };
    }

    /// <summary><c>audit.json</c> for a transcript built by <see cref="Build"/>.</summary>
    public static JsonObject Audit(JsonObject transcript)
    {
        ArgumentNullException.ThrowIfNull(transcript);
        var hashes = new JsonArray();
        foreach (var step in transcript["steps"]!.AsArray())
        {
            hashes.Add(new JsonObject { ["step"] = step!["id"]!.GetValue<string>(), ["attempt"] = step["attempt"]!.GetValue<int>(), ["iteration"] = step["iteration"]?.DeepClone(), ["hash"] = step["hash"]!.GetValue<string>() });
        }

        return new JsonObject { ["algorithm"] = "sha256 chain over canonical step JSON", ["run_id"] = transcript["run_id"]!.GetValue<string>(), ["steps"] = hashes, ["head"] = transcript["audit_head"]!.GetValue<string>() };
    }

    /// <summary>Serializes an artifact the way AgentFlow stores it.</summary>
    public static string Serialize(JsonNode node) => node.ToJsonString(Indented);

    /// <summary>
    /// Recomputes the chain from a stored transcript and compares it with the stored audit and the head tag. Returns
    /// null when everything matches, else what differs first, naming the step (or the unreadable file). The step
    /// chain only: <see cref="AgentFlow.Tracking.MLflow.Audit.RunVerifier"/> checks the whole run against its seal and the ledger.
    /// </summary>
    public static string? Verify(string transcriptJson, string auditJson, string? headTag)
    {
        try
        {
            var transcript = RecordJson.ParseObject(transcriptJson, TranscriptPath);
            var audit = RecordJson.ParseObject(auditJson, AuditPath);
            return CheckChain(transcript, audit, headTag).Problem;
        }
        catch (UnreadableRecordException ex)
        {
            return $"the stored record is unreadable ({ex.Message})";
        }
    }

    /// <summary>
    /// Recomputes the step chain of <paramref name="transcript"/>. With <paramref name="audit"/>, compares it with the
    /// audit chain and <paramref name="headTag"/>; without (a run still running or parked at an approval), with the
    /// hashes the transcript's steps carry and its <c>audit_head</c>.
    /// </summary>
    /// <exception cref="UnreadableRecordException">A step or audit entry has the wrong shape.</exception>
    internal static ChainCheck CheckChain(JsonObject transcript, JsonObject? audit, string? headTag)
    {
        var runId = RecordJson.String(transcript, "run_id", TranscriptPath);
        var steps = RecordJson.Objects(transcript, "steps", TranscriptPath);
        var recorded = audit is null
            ? steps.Select(s => RecordJson.OptionalString(s, "hash", TranscriptPath)).ToList()
            : RecordJson.Objects(audit, "steps", AuditPath).Select(s => RecordJson.OptionalString(s, "hash", AuditPath)).ToList();
        var previous = Genesis(runId);
        string? problem = null;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i].DeepClone().AsObject();
            step.Remove("hash");
            previous = Hash(previous, step);
            if (problem is null && (i >= recorded.Count || recorded[i] != previous))
            {
                var name = RecordJson.OptionalString(step, "id", TranscriptPath);
                var attempt = step["attempt"]?.ToJsonString();
                problem = $"step '{name}' (record {i + 1}, attempt {attempt}) was altered: its recomputed hash does not match the {(audit is null ? "hash recorded with it" : "audit chain")}";
            }
        }

        if (steps.Count != recorded.Count)
        {
            problem = $"the transcript has {steps.Count} step records but the audit chain has {recorded.Count}";
        }
        else if (problem is null)
        {
            var head = audit is null ? RecordJson.OptionalString(transcript, "audit_head", TranscriptPath) : RecordJson.OptionalString(audit, "head", AuditPath);
            if (head != previous)
            {
                problem = audit is null ? "the transcript's audit_head does not match its steps" : "the audit chain's head does not match the steps";
            }
            else if (audit is not null && headTag != previous)
            {
                problem = $"the run's {HeadTag} tag does not match the audit chain (the stored artifacts were replaced)";
            }
        }

        return new ChainCheck(problem, steps.Count, previous);
    }

    // A retrieve step's chunks (ids, sources, headings, scores) are part of the step, hence of its audit hash; the key
    // is absent for other steps so the canonical form of steps recorded before retrieval existed is unchanged.
    private static JsonObject Step(StepRecord step, string? modelSha256)
    {
        var node = StepFields(step, modelSha256);
        if (step.Retrieval is { } retrieval)
        {
            node["retrieval"] = Retrieval(retrieval);
        }

        return node;
    }

    /// <summary>A search and its chunks as the transcript keeps them (retrieve steps and retrieve tools' calls).</summary>
    public static JsonObject Retrieval(RetrievalRecord retrieval)
    {
        ArgumentNullException.ThrowIfNull(retrieval);
        return new JsonObject
        {
            ["collection"] = retrieval.Collection,
            ["query"] = retrieval.Query,
            ["top_k"] = retrieval.TopK,
            ["min_score"] = retrieval.MinScore,
            ["chunks"] = new JsonArray([.. retrieval.Chunks.Select(c => (JsonNode)new JsonObject
            {
                ["id"] = c.Id,
                ["source"] = c.Source,
                ["heading"] = c.Heading,
                ["score"] = Math.Round(c.Score, 6),
                ["text"] = c.Text,
            })]),
        };
    }

    private static JsonObject StepFields(StepRecord step, string? modelSha256) => new()
    {
        ["id"] = step.Id,
        ["kind"] = step.Kind,
        ["iteration"] = step.Iteration,
        ["attempt"] = step.Attempt,
        ["model_alias"] = step.ModelAlias,
        ["model"] = step.Model,
        ["model_sha256"] = modelSha256,
        ["worker"] = step.Worker,
        ["status"] = step.Status.ToString().ToLowerInvariant(),
        ["started"] = Time(step.Started),
        ["latency_ms"] = Math.Round(step.LatencyMs, 3),
        ["system"] = step.System,
        ["prompt"] = step.Prompt,
        ["memory_messages"] = step.MemoryMessages,
        ["output"] = step.Output,
        ["input_tokens"] = step.InputTokens,
        ["output_tokens"] = step.OutputTokens,
        ["finish_reason"] = step.FinishReason,
        ["cost_usd"] = step.CostUsd,
        ["detail"] = step.Detail,
        ["error"] = step.Error,
        ["approval"] = step.Approval is not { } approval ? null : new JsonObject
        {
            ["message"] = approval.Message,
            ["show"] = approval.Show,
            ["deadline"] = approval.Deadline is { } deadline ? Time(deadline) : null,
            ["decision"] = approval.Decision,
            ["decided_by"] = approval.DecidedBy,
            ["decided_at"] = approval.DecidedAt is { } at ? Time(at) : null,
            ["comment"] = approval.Comment,
        },
    };

    /// <summary>The tool calls of a step attempt as JSON (covered by the step's audit hash).</summary>
    public static JsonArray ToolCalls(StepRecord step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var calls = new JsonArray();
        foreach (var call in step.ToolCallsSnapshot())
        {
            var entry = new JsonObject
            {
                ["name"] = call.Name,
                ["tool"] = call.Tool,
                ["call_id"] = call.CallId,
                ["arguments"] = call.Arguments,
                ["started"] = Time(call.Started),
                ["status"] = call.Status,
                ["latency_ms"] = Math.Round(call.LatencyMs, 3),
                ["result"] = call.Result,
                ["result_sha256"] = call.ResultSha256,
                ["result_bytes"] = call.ResultBytes,
                ["result_truncated"] = call.ResultTruncated,
                ["error"] = call.Error,
                ["approval"] = call.Approval is not { } approval ? null : new JsonObject
                {
                    ["decision"] = approval.Decision,
                    ["decided_by"] = approval.DecidedBy,
                    ["decided_at"] = approval.DecidedAt is { } at ? Time(at) : null,
                    ["comment"] = approval.Comment,
                },
                ["replayed_from"] = call.ReplayedFrom,
                ["child_run"] = call.ChildRunId,
            };
            if (call.Retrieval is { } retrieval)
            {
                // Only on retrieve tools' calls, so the canonical form (and audit hash) of every other call is unchanged.
                entry["retrieval"] = Retrieval(retrieval);
            }

            calls.Add(entry);
        }

        return calls;
    }

    private static string Genesis(string runId) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("agentflow-audit:" + runId)));

    // Canonical form: compact JSON of the step with its fields in the fixed order above.
    private static string Hash(string previous, JsonObject step) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(previous + "\n" + step.ToJsonString())));

    private static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}

/// <summary>The step chain as recomputed: the first problem (null when it matches), the step count and the head.</summary>
internal sealed record ChainCheck(string? Problem, int Steps, string Head);
