using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>What <see cref="RunVerifier"/> found for one run.</summary>
public enum VerificationOutcome
{
    /// <summary>Sealed, signed by this key, in the ledger, and the whole record matches the seal.</summary>
    Verified,

    /// <summary>Something in the record differs from its seal, chain or ledger line.</summary>
    Altered,

    /// <summary>A record file is malformed (truncated, duplicate keys, wrong types): altered or damaged.</summary>
    Unreadable,

    /// <summary>The seal was signed with another key than the one given.</summary>
    KeyMismatch,

    /// <summary>The run is sealed but no key is available to check the signature.</summary>
    NoKey,

    /// <summary>An ended run without a seal, not in the ledger: recorded by a version before seals.</summary>
    Unsealed,

    /// <summary>Parked at an approval: the chain so far was checked; the seal is written when the run ends.</summary>
    Waiting,

    /// <summary>Still running (or its process stopped): the chain so far was checked; not sealed yet.</summary>
    InProgress,

    /// <summary>The store has no such run, and the ledger does not name it.</summary>
    NotFound,
}

/// <summary>
/// The result of verifying one run: <see cref="Outcome"/>, a one-line <see cref="Message"/> and every
/// <see cref="Problems"/> found. <see cref="ToJson"/> is what the serve API returns.
/// </summary>
/// <param name="RunId">The run.</param>
/// <param name="Outcome">The verdict.</param>
/// <param name="Message">What was checked and found, for a person.</param>
/// <param name="Problems">Each difference found (empty unless altered or unreadable).</param>
/// <param name="Notes">What the seal does not cover but the record holds (experiment scores added later, UI notes).</param>
public sealed record RunVerification(string RunId, VerificationOutcome Outcome, string Message, IReadOnlyList<string> Problems, IReadOnlyList<string> Notes)
{
    /// <summary>Whether the run passed: only <see cref="VerificationOutcome.Verified"/> does.</summary>
    public bool Ok => Outcome == VerificationOutcome.Verified;

    /// <summary>The verdict as printed: <c>verified</c>, <c>ALTERED</c>, <c>ALTERED/unreadable</c>, <c>unsealed</c>, …</summary>
    public string Label => Outcome switch
    {
        VerificationOutcome.Verified => "verified",
        VerificationOutcome.Altered => "ALTERED",
        VerificationOutcome.Unreadable => "ALTERED/unreadable",
        VerificationOutcome.KeyMismatch => "NOT VERIFIED (different key)",
        VerificationOutcome.NoKey => "NOT VERIFIED (no key)",
        VerificationOutcome.Unsealed => "unsealed (recorded by an older version)",
        VerificationOutcome.Waiting => "waiting (not sealed yet)",
        VerificationOutcome.InProgress => "running (not sealed yet)",
        VerificationOutcome.NotFound => "NOT FOUND",
        _ => Outcome.ToString(),
    };

    /// <summary>The result as JSON: <c>run_id</c>, <c>ok</c>, <c>outcome</c> (<c>verified</c>, <c>altered</c>, <c>unreadable</c>, <c>key_mismatch</c>, <c>no_key</c>, <c>unsealed</c>, <c>waiting</c>, <c>in_progress</c>, <c>not_found</c>), <c>label</c>, <c>message</c>, <c>problems</c>, <c>notes</c>.</summary>
    public JsonObject ToJson() => new()
    {
        ["run_id"] = RunId,
        ["ok"] = Ok,
        ["outcome"] = System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(Outcome.ToString()),
        ["label"] = Label,
        ["message"] = Message,
        ["problems"] = new JsonArray([.. Problems.Select(p => (JsonNode?)p)]),
        ["notes"] = new JsonArray([.. Notes.Select(n => (JsonNode?)n)]),
    };
}

/// <summary>The result of checking the whole ledger against the store.</summary>
/// <param name="Ledger">The ledger as read (its own problems included).</param>
/// <param name="Problems">Every problem: the ledger's own, then deleted, replaced or unlisted runs.</param>
/// <param name="Runs">With <c>--all</c>: each run of the store, verified; else empty.</param>
public sealed record LedgerVerification(LedgerContents Ledger, IReadOnlyList<string> Problems, IReadOnlyList<RunVerification> Runs)
{
    /// <summary>Whether the ledger and every run checked passed (waiting and running runs count as passed).</summary>
    public bool Ok => Problems.Count == 0 && Runs.All(r => r.Ok || r.Outcome is VerificationOutcome.Waiting or VerificationOutcome.InProgress);

    /// <summary>The result as JSON.</summary>
    public JsonObject ToJson() => new()
    {
        ["ledger"] = Ledger.Path,
        ["ok"] = Ok,
        ["entries"] = Ledger.Entries.Count,
        ["head"] = Ledger.Head,
        ["problems"] = new JsonArray([.. Problems.Select(p => (JsonNode?)p)]),
        ["runs"] = new JsonArray([.. Runs.Select(r => (JsonNode?)r.ToJson())]),
    };
}
