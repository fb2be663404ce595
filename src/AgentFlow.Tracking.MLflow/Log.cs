using System.Net;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Tracking.MLflow;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Created MLflow schema {Revision} in {DatabasePath}")]
    public static partial void SchemaCreated(ILogger logger, string revision, string databasePath);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "MLflow database {DatabasePath} is at schema revision {Found}, AgentFlow writes revision {Expected}; continuing with the tables both share")]
    public static partial void SchemaRevisionDiffers(ILogger logger, string databasePath, string found, string expected);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Created MLflow experiment {Name} ({ExperimentId})")]
    public static partial void ExperimentCreated(ILogger logger, string name, string experimentId);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Experiment {Name} was created concurrently; reading it again")]
    public static partial void ExperimentCreatedConcurrently(ILogger logger, string name);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
        Message = "MLflow {Method} {Path} answered {StatusCode}; retry {Attempt} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string method, string path, HttpStatusCode? statusCode, int attempt, double delayMs);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning,
        Message = "MLflow {Method} {Path} failed ({Error}); retry {Attempt} in {DelayMs} ms")]
    public static partial void RetryingAfterException(ILogger logger, string method, string path, string error, int attempt, double delayMs);

    [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Logging {Metrics} metrics, {Params} params, {Tags} tags to run {RunId} in {Requests} request(s)")]
    public static partial void BatchSplit(ILogger logger, string runId, int metrics, int @params, int tags, int requests);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "MLFLOW_TRACKING_INSECURE_TLS is set: TLS certificates of {TrackingUri} are not verified")]
    public static partial void InsecureTls(ILogger logger, string trackingUri);
}
