using System.Text.Json.Serialization;

namespace AgentFlow.Tracking.MLflow.Rest;

// MLflow's REST messages (mlflow/protos/service.proto) as JSON: snake_case names, enums as names, int64 as numbers
// (strings accepted when reading), NaN/Infinity as the strings protobuf's JSON mapping uses.

internal sealed class WireKeyValue
{
    public string? Key { get; init; }

    public string? Value { get; init; }
}

internal sealed class WireMetric
{
    public string? Key { get; init; }

    public double Value { get; init; }

    public long Timestamp { get; init; }

    public long Step { get; init; }
}

internal sealed class WireExperiment
{
    public string? ExperimentId { get; init; }

    public string? Name { get; init; }

    public string? ArtifactLocation { get; init; }

    public string? LifecycleStage { get; init; }

    public long? LastUpdateTime { get; init; }

    public long? CreationTime { get; init; }

    public List<WireKeyValue>? Tags { get; init; }
}

internal sealed class WireRunInfo
{
    public string? RunId { get; init; }

    public string? RunUuid { get; init; }

    public string? RunName { get; init; }

    public string? ExperimentId { get; init; }

    public string? UserId { get; init; }

    public string? Status { get; init; }

    public long? StartTime { get; init; }

    public long? EndTime { get; init; }

    public string? ArtifactUri { get; init; }

    public string? LifecycleStage { get; init; }
}

internal sealed class WireRunData
{
    public List<WireMetric>? Metrics { get; init; }

    public List<WireKeyValue>? Params { get; init; }

    public List<WireKeyValue>? Tags { get; init; }
}

internal sealed class WireRun
{
    public WireRunInfo? Info { get; init; }

    public WireRunData? Data { get; init; }
}

internal sealed class WireFileInfo
{
    public string? Path { get; init; }

    public bool IsDir { get; init; }

    public long? FileSize { get; init; }
}

internal sealed class CreateExperimentRequest
{
    public required string Name { get; init; }
}

internal sealed class CreateExperimentResponse
{
    public string? ExperimentId { get; init; }
}

internal sealed class ExperimentResponse
{
    public WireExperiment? Experiment { get; init; }
}

internal sealed class SearchExperimentsRequest
{
    public int MaxResults { get; init; }

    public string ViewType { get; init; } = "ACTIVE_ONLY";

    public string? PageToken { get; init; }
}

internal sealed class SearchExperimentsResponse
{
    public List<WireExperiment>? Experiments { get; init; }

    public string? NextPageToken { get; init; }
}

internal sealed class CreateRunRequest
{
    public required string ExperimentId { get; init; }

    public string? UserId { get; init; }

    public string? RunName { get; init; }

    public long StartTime { get; init; }

    public List<WireKeyValue>? Tags { get; init; }
}

internal sealed class RunResponse
{
    public WireRun? Run { get; init; }
}

internal sealed class LogBatchRequest
{
    public required string RunId { get; init; }

    public List<WireMetric>? Metrics { get; init; }

    public List<WireKeyValue>? Params { get; init; }

    public List<WireKeyValue>? Tags { get; init; }
}

internal sealed class UpdateRunRequest
{
    public required string RunId { get; init; }

    public required string RunUuid { get; init; }

    public required string Status { get; init; }

    public long? EndTime { get; init; }
}

internal sealed class UpdateRunResponse
{
    public WireRunInfo? RunInfo { get; init; }
}

internal sealed class SetTagRequest
{
    public required string RunId { get; init; }

    public required string RunUuid { get; init; }

    public required string Key { get; init; }

    public required string Value { get; init; }
}

internal sealed class SearchRunsRequest
{
    public required List<string> ExperimentIds { get; init; }

    public string? Filter { get; init; }

    public string RunViewType { get; init; } = "ACTIVE_ONLY";

    public int MaxResults { get; init; }

    public List<string>? OrderBy { get; init; }

    public string? PageToken { get; init; }
}

internal sealed class SearchRunsResponse
{
    public List<WireRun>? Runs { get; init; }

    public string? NextPageToken { get; init; }
}

internal sealed class ListArtifactsResponse
{
    public string? RootUri { get; init; }

    public List<WireFileInfo>? Files { get; init; }

    public string? NextPageToken { get; init; }
}

internal sealed class ErrorResponse
{
    public string? ErrorCode { get; init; }

    public string? Message { get; init; }
}

internal sealed class EmptyResponse
{
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals | JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(CreateExperimentRequest))]
[JsonSerializable(typeof(CreateExperimentResponse))]
[JsonSerializable(typeof(ExperimentResponse))]
[JsonSerializable(typeof(SearchExperimentsRequest))]
[JsonSerializable(typeof(SearchExperimentsResponse))]
[JsonSerializable(typeof(CreateRunRequest))]
[JsonSerializable(typeof(RunResponse))]
[JsonSerializable(typeof(LogBatchRequest))]
[JsonSerializable(typeof(UpdateRunRequest))]
[JsonSerializable(typeof(UpdateRunResponse))]
[JsonSerializable(typeof(SetTagRequest))]
[JsonSerializable(typeof(SearchRunsRequest))]
[JsonSerializable(typeof(SearchRunsResponse))]
[JsonSerializable(typeof(ListArtifactsResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(EmptyResponse))]
[JsonSerializable(typeof(WireMetric))]
[JsonSerializable(typeof(WireKeyValue))]
internal sealed partial class MlflowJsonContext : JsonSerializerContext
{
}

/// <summary>The serializer for MLflow's wire format; non-ASCII text is sent as UTF-8, not \u escapes, to keep requests small.</summary>
internal static class MlflowJson
{
    public static MlflowJsonContext Context { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals | JsonNumberHandling.AllowReadingFromString,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
