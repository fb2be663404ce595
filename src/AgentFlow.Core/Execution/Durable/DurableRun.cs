using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentFlow.Execution.Durable;

/// <summary>
/// What a run store keeps of one run between processes: how to rebuild it (workflow file and its hash, inputs,
/// bindings, host settings), the engine's latest checkpoint, and the run record so far.
/// </summary>
public sealed class DurableRun
{
    /// <summary>The run id (also the MLflow run id when recorded).</summary>
    public required string RunId { get; init; }

    /// <summary>Full path of the workflow file; a resume reloads it and refuses if its hash changed.</summary>
    public required string WorkflowPath { get; init; }

    /// <summary>SHA-256 of the workflow file when the run started.</summary>
    public required string DefinitionSha256 { get; init; }

    /// <summary><c>--input</c> values as given.</summary>
    public Dictionary<string, string> Inputs { get; init; } = new(StringComparer.Ordinal);

    /// <summary><c>--bind</c> values as given.</summary>
    public Dictionary<string, string> Bindings { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Settings the host needs to continue the run (config file, where it is recorded); opaque to the runner.</summary>
    public Dictionary<string, string> Host { get; init; } = new(StringComparer.Ordinal);

    /// <summary>The engine checkpoint to resume from; null before the first superstep ends.</summary>
    public string? CheckpointId { get; set; }

    /// <summary>How many step records the run record held when <see cref="CheckpointId"/> was taken.</summary>
    public int CheckpointSteps { get; set; }

    /// <summary>When this state was last saved.</summary>
    public DateTimeOffset Updated { get; set; }

    /// <summary>The run record so far (status, steps, the approval it waits at).</summary>
    public required RunRecord Record { get; init; }

    /// <summary>True while the run is not finished: running (or interrupted) or waiting for a decision.</summary>
    [JsonIgnore]
    public bool IsActive => Record.Status is RunStatus.Running or RunStatus.Waiting;

    /// <summary>The stored form.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads the stored form.</summary>
    /// <exception cref="RunStoreException">The text is not a stored run.</exception>
    public static DurableRun FromJson(string json, string where)
    {
        try
        {
            return JsonSerializer.Deserialize<DurableRun>(json, Json) ?? throw new RunStoreException($"{where}: empty run state");
        }
        catch (JsonException ex)
        {
            throw new RunStoreException($"{where}: the stored run cannot be read ({ex.Message}); it was written by another AgentFlow version or damaged", ex);
        }
    }

    /// <summary>
    /// The progress of a save as a compact change (<see cref="IRunStore.SaveProgressAsync"/>): the checkpoint position,
    /// the save time and <paramref name="step"/> with its place in the record. Null when the record does not hold
    /// <paramref name="step"/> (save the whole run then).
    /// </summary>
    public string? ToProgressJson(StepRecord? step) =>
        ToProgress(step) is { } line ? JsonSerializer.Serialize(line, Json) : null;

    /// <summary>
    /// <see cref="ToProgressJson"/> as UTF-8 into <paramref name="writer"/> (reset onto the caller's buffer), without
    /// the intermediate string. False (nothing written) when the record does not hold <paramref name="step"/>.
    /// </summary>
    internal bool TryWriteProgressJson(StepRecord? step, Utf8JsonWriter writer)
    {
        if (ToProgress(step) is not { } line)
        {
            return false;
        }

        JsonSerializer.Serialize(writer, line, Json);
        writer.Flush();
        return true;
    }

    private ProgressLine? ToProgress(StepRecord? step)
    {
        int? index = null;
        if (step is not null)
        {
            lock (Record.Steps)
            {
                index = Record.Steps.LastIndexOf(step);
            }

            if (index < 0)
            {
                return null;
            }
        }

        return new ProgressLine(new Progress(Updated, CheckpointId, CheckpointSteps, index, step));
    }

    /// <summary>True when <paramref name="json"/> is a change written by <see cref="ToProgressJson"/>, not a whole run.</summary>
    public static bool IsProgressJson(string json) => json.StartsWith(ProgressPrefix, StringComparison.Ordinal);

    /// <summary>Applies a change written by <see cref="ToProgressJson"/> to this state.</summary>
    /// <exception cref="RunStoreException">The text is not a change, or names a step past the end of the record.</exception>
    public void ApplyProgressJson(string json, string where)
    {
        Progress progress;
        try
        {
            progress = JsonSerializer.Deserialize<ProgressLine>(json, Json)?.Progress ?? throw new RunStoreException($"{where}: empty run change");
        }
        catch (JsonException ex)
        {
            throw new RunStoreException($"{where}: a stored run change cannot be read ({ex.Message})", ex);
        }

        Updated = progress.Updated;
        CheckpointId = progress.CheckpointId;
        CheckpointSteps = progress.CheckpointSteps;
        if (progress is { Index: { } index, Step: { } step })
        {
            var steps = Record.Steps;
            if (index < steps.Count)
            {
                steps[index] = step;
            }
            else if (index == steps.Count)
            {
                steps.Add(step);
            }
            else
            {
                throw new RunStoreException($"{where}: a stored run change names step {index}, but the run has {steps.Count}");
            }
        }
    }

    private const string ProgressPrefix = "{\"Progress\":";

    private sealed record ProgressLine(Progress Progress);

    private sealed record Progress(DateTimeOffset Updated, string? CheckpointId, int CheckpointSteps, int? Index, StepRecord? Step);

    // Populate: RunRecord's Steps and Outputs are get-only collections filled in place.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General)
    {
        PreferredObjectCreationHandling = JsonObjectCreationHandling.Populate,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>A run store cannot be read or written, or a run cannot be continued from it.</summary>
public sealed class RunStoreException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public RunStoreException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
