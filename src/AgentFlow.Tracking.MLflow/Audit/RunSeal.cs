using System.Globalization;
using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// The seal of an ended run (<c>seal.json</c>): what the record held when the run ended — a hash of every top-level
/// transcript field (outputs, status, error, inputs, bindings, definition hash, steps, audit head…), the step chain's
/// head and length, the bytes of <c>workflow.yaml</c> and <c>audit.json</c>, every param, metric (latest value) and
/// tag, and the MLflow run's status and times — signed with the <see cref="AuditKey"/> (HMAC-SHA256). Written once,
/// when the run ends.
/// </summary>
public static class RunSeal
{
    /// <summary>The seal artifact.</summary>
    public const string SealPath = "seal.json";

    /// <summary>The workflow file artifact the seal covers.</summary>
    public const string WorkflowPath = "workflow.yaml";

    private const int FormatVersion = 1;

    /// <summary>
    /// Builds and signs the seal of <paramref name="run"/> as stored, with the transcript and audit chain as written.
    /// Returns the file text and the seal's hash (the ledger's reference to it).
    /// </summary>
    internal static (string Text, string Hash) Create(
        MlflowRun run, string transcriptJson, string auditJson, byte[]? workflowFile, AuditKey key, DateTimeOffset now)
    {
        var transcript = RecordJson.ParseObject(transcriptJson, Recording.RunTranscript.TranscriptPath);
        var fields = new JsonObject();
        foreach (var (name, value) in transcript)
        {
            fields[name] = RecordJson.Sha256(RecordJson.Canonical(value));
        }

        var steps = RecordJson.Objects(transcript, "steps", Recording.RunTranscript.TranscriptPath);
        var payload = new JsonObject
        {
            ["version"] = FormatVersion,
            ["run_id"] = run.Info.RunId,
            ["sealed_at"] = now.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["key_id"] = key.Id,
            ["run"] = RunInfo(run.Info),
            ["audit_head"] = RecordJson.String(transcript, "audit_head", Recording.RunTranscript.TranscriptPath),
            ["steps"] = steps.Count,
            ["transcript"] = fields,
            ["artifacts"] = new JsonObject
            {
                [Recording.RunTranscript.AuditPath] = RecordJson.Sha256(System.Text.Encoding.UTF8.GetBytes(auditJson)),
                [WorkflowPath] = workflowFile is null ? null : RecordJson.Sha256(workflowFile),
            },
            ["params"] = Map(run.Params.Select(p => (p.Key, RecordJson.Sha256(p.Value)))),
            ["metrics"] = Map(run.Metrics.Select(m => (m.Key, MetricText(m.Value)))),
            ["tags"] = Map(run.Tags.Select(t => (t.Key, RecordJson.Sha256(t.Value)))),
        };

        // Signed over the canonical text of the payload as read back from the file, exactly as the verifier computes it.
        var canonical = RecordJson.Canonical(JsonNode.Parse(Recording.RunTranscript.Serialize(payload)));
        payload["mac"] = key.Sign(canonical);
        return (Recording.RunTranscript.Serialize(payload), RecordJson.Sha256(canonical));
    }

    /// <summary>Reads a stored seal; unreadable when malformed.</summary>
    internal static StoredSeal Read(string text)
    {
        var seal = RecordJson.ParseObject(text, SealPath);
        var mac = RecordJson.String(seal, "mac", SealPath);
        var payload = (JsonObject)seal.DeepClone();
        payload.Remove("mac");
        var canonical = RecordJson.Canonical(payload);
        var version = RecordJson.Integer(seal, "version", SealPath);
        if (version != FormatVersion)
        {
            throw new UnreadableRecordException(SealPath, $"seal format version {version} is not known to this version of AgentFlow");
        }

        var run = RecordJson.Object(seal, "run", SealPath);
        var artifacts = RecordJson.Object(seal, "artifacts", SealPath);
        return new StoredSeal(
            RecordJson.String(seal, "run_id", SealPath),
            RecordJson.String(seal, "key_id", SealPath),
            RecordJson.String(seal, "sealed_at", SealPath),
            mac,
            canonical,
            RecordJson.Sha256(canonical),
            RecordJson.String(run, "status", SealPath),
            RecordJson.String(run, "experiment_id", SealPath),
            RecordJson.OptionalInteger(run, "start_time", SealPath),
            RecordJson.OptionalInteger(run, "end_time", SealPath),
            RecordJson.String(seal, "audit_head", SealPath),
            RecordJson.Integer(seal, "steps", SealPath),
            RecordJson.StringMap(seal, "transcript", SealPath),
            RecordJson.OptionalString(artifacts, Recording.RunTranscript.AuditPath, SealPath),
            RecordJson.OptionalString(artifacts, WorkflowPath, SealPath),
            RecordJson.StringMap(seal, "params", SealPath),
            RecordJson.StringMap(seal, "metrics", SealPath),
            RecordJson.StringMap(seal, "tags", SealPath));
    }

    /// <summary>What differs between the record as stored now and its seal; empty when nothing does.</summary>
    internal static List<string> Compare(StoredSeal seal, MlflowRun run, JsonObject transcript, byte[]? auditFile, byte[]? workflowFile)
    {
        var problems = new List<string>();
        var fields = transcript.ToDictionary(f => f.Key, f => RecordJson.Sha256(RecordJson.Canonical(f.Value)), StringComparer.Ordinal);
        foreach (var (name, hash) in seal.TranscriptFields)
        {
            if (!fields.TryGetValue(name, out var now))
            {
                problems.Add($"transcript field '{name}' was removed (it is in the seal)");
            }
            else if (now != hash)
            {
                problems.Add($"transcript field '{name}' was altered (it does not match the seal)");
            }
        }

        problems.AddRange(fields.Keys.Where(k => !seal.TranscriptFields.ContainsKey(k)).Select(k => $"transcript field '{k}' was added after the seal"));
        CompareArtifact(problems, Recording.RunTranscript.AuditPath, seal.AuditSha256, auditFile);
        CompareArtifact(problems, WorkflowPath, seal.WorkflowSha256, workflowFile);

        var info = RunInfo(run.Info);
        Check(problems, "the MLflow run status", seal.Status, info["status"]!.GetValue<string>());
        Check(problems, "the MLflow experiment id", seal.ExperimentId, run.Info.ExperimentId);
        Check(problems, "the MLflow run start time", Text(seal.StartTime), Text(run.Info.StartTime));
        Check(problems, "the MLflow run end time", Text(seal.EndTime), Text(run.Info.EndTime));

        CompareMap(problems, "param", seal.Params, run.Params.ToDictionary(p => p.Key, p => RecordJson.Sha256(p.Value), StringComparer.Ordinal), showValues: false, _ => true);
        CompareMap(problems, "metric", seal.Metrics, run.Metrics.ToDictionary(m => m.Key, m => MetricText(m.Value), StringComparer.Ordinal), showValues: true, IsRecorderMetric);
        CompareMap(problems, "tag", seal.Tags, run.Tags.ToDictionary(t => t.Key, t => RecordJson.Sha256(t.Value), StringComparer.Ordinal), showValues: false, IsRecorderTag);
        return problems;
    }

    /// <summary>
    /// Metrics and tags present now that the seal does not cover and that AgentFlow adds after a run ends (experiment
    /// scores) or a person may add in the MLflow UI (notes): reported, not a failure.
    /// </summary>
    internal static IEnumerable<string> Unsealed(StoredSeal seal, MlflowRun run) =>
        run.Metrics.Where(m => !seal.Metrics.ContainsKey(m.Key) && !IsRecorderMetric(m.Key)).Select(m => $"metric '{m.Key}'")
            .Concat(run.Tags.Where(t => !seal.Tags.ContainsKey(t.Key) && !IsRecorderTag(t.Key)).Select(t => $"tag '{t.Key}'"));

    // Keys the recorder writes: one of these that appears after the seal was forged.
    private static bool IsRecorderMetric(string key) => key.StartsWith("run.", StringComparison.Ordinal) || key.StartsWith("step.", StringComparison.Ordinal);

    private static bool IsRecorderTag(string key) => key.StartsWith("agentflow.", StringComparison.Ordinal);

    private static void CompareMap(
        List<string> problems, string kind, IReadOnlyDictionary<string, string> sealedValues, Dictionary<string, string> stored, bool showValues, Func<string, bool> addedIsForged)
    {
        foreach (var (key, value) in sealedValues)
        {
            if (!stored.TryGetValue(key, out var now))
            {
                problems.Add($"{kind} '{key}' was removed (it is in the seal)");
            }
            else if (now != value)
            {
                problems.Add(showValues ? $"{kind} '{key}' was altered: {now} in the store, {value} when sealed" : $"{kind} '{key}' was altered (it does not match the seal)");
            }
        }

        problems.AddRange(stored.Keys.Where(k => !sealedValues.ContainsKey(k) && addedIsForged(k)).Order(StringComparer.Ordinal).Select(k => $"{kind} '{k}' was added after the seal"));
    }

    private static void CompareArtifact(List<string> problems, string path, string? sealedHash, byte[]? stored)
    {
        var now = stored is null ? null : RecordJson.Sha256(stored);
        if (sealedHash == now)
        {
            return;
        }

        problems.Add(now is null ? $"the {path} artifact was removed (it is in the seal)"
            : sealedHash is null ? $"the {path} artifact was added after the seal"
            : $"the {path} artifact was altered (its SHA-256 does not match the seal)");
    }

    private static void Check(List<string> problems, string what, string? sealedValue, string? now)
    {
        if (!string.Equals(sealedValue, now, StringComparison.Ordinal))
        {
            problems.Add($"{what} was altered: {now ?? "(none)"} in the store, {sealedValue ?? "(none)"} when sealed");
        }
    }

    private static JsonObject RunInfo(MlflowRunInfo info) => new()
    {
        ["status"] = MlflowRunStatusNames.ToWire(info.Status),
        ["experiment_id"] = info.ExperimentId,
        ["start_time"] = info.StartTime,
        ["end_time"] = info.EndTime,
    };

    private static JsonObject Map(IEnumerable<(string Key, string Value)> entries)
    {
        var map = new JsonObject();
        foreach (var (key, value) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            map[key] = value;
        }

        return map;
    }

    // Round-trip form, so the verifier compares the exact double.
    private static string MetricText(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string? Text(long? value) => value?.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A seal read back from <c>seal.json</c>: what was sealed, its signature and its hash.</summary>
internal sealed record StoredSeal(
    string RunId,
    string KeyId,
    string SealedAt,
    string Mac,
    string Canonical,
    string Hash,
    string Status,
    string ExperimentId,
    long? StartTime,
    long? EndTime,
    string AuditHead,
    long Steps,
    IReadOnlyDictionary<string, string> TranscriptFields,
    string? AuditSha256,
    string? WorkflowSha256,
    IReadOnlyDictionary<string, string> Params,
    IReadOnlyDictionary<string, string> Metrics,
    IReadOnlyDictionary<string, string> Tags);
