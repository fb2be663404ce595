using AgentFlow.Tracking.MLflow.Traces;

namespace AgentFlow.Tracking.MLflow;

/// <summary>MLflow traces in the embedded store: the rows MLflow 3.5's SqlAlchemyStore writes for a trace.</summary>
public sealed partial class MlflowSqliteStore
{
    /// <summary>Tag that tells MLflow the spans are in the <c>spans</c> table (not an artifact file).</summary>
    public const string SpansLocationTag = "mlflow.trace.spansLocation";

    /// <summary>
    /// Writes <paramref name="trace"/> into the experiment of MLflow run <paramref name="runId"/>, linked to that run
    /// (the <c>mlflow.sourceRun</c> metadata and a trace-to-run row in <c>entity_associations</c>), in one
    /// transaction: <c>trace_info</c> (as <c>start_trace</c> writes it), <c>trace_tags</c> with
    /// <c>mlflow.artifactLocation</c> and <c>mlflow.trace.spansLocation=TRACKING_STORE</c>,
    /// <c>trace_request_metadata</c>, and a <c>spans</c> row per span with its content as <c>log_spans</c> encodes it.
    /// Writing the same trace again replaces its tags, metadata and spans; assessments on it are kept.
    /// </summary>
    /// <exception cref="MlflowException"><c>RESOURCE_DOES_NOT_EXIST</c> when the run is unknown.</exception>
    public async Task LogTraceAsync(string runId, MlflowTrace trace, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        ArgumentNullException.ThrowIfNull(trace);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            if (Scalar<long>(connection, transaction, "SELECT count(*) FROM runs WHERE run_uuid = $id;", ("$id", runId)) == 0)
            {
                throw RunNotFound(runId);
            }

            var experimentId = Scalar<long>(connection, transaction, "SELECT experiment_id FROM runs WHERE run_uuid = $id;", ("$id", runId));
            var location = Scalar<string>(connection, transaction, "SELECT artifact_location FROM experiments WHERE experiment_id = $id;", ("$id", experimentId))
                ?? ExperimentArtifactLocation(experimentId);
            Execute(connection, transaction,
                "INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, execution_time_ms, status, client_request_id, request_preview, response_preview) " +
                "VALUES ($id, $experiment, $timestamp, $duration, $status, NULL, $request, $response) " +
                "ON CONFLICT(request_id) DO UPDATE SET experiment_id = excluded.experiment_id, timestamp_ms = excluded.timestamp_ms, " +
                "execution_time_ms = excluded.execution_time_ms, status = excluded.status, request_preview = excluded.request_preview, response_preview = excluded.response_preview;",
                ("$id", trace.TraceId), ("$experiment", experimentId), ("$timestamp", trace.TimestampMs), ("$duration", trace.ExecutionTimeMs),
                ("$status", trace.State), ("$request", trace.RequestPreview), ("$response", trace.ResponsePreview));
            foreach (var table in new[] { "trace_tags", "trace_request_metadata", "spans" })
            {
                var column = table == "spans" ? "trace_id" : "request_id";
                Execute(connection, transaction, $"DELETE FROM {table} WHERE {column} = $id;", ("$id", trace.TraceId));
            }

            // As start_trace: the trace's artifact folder under the experiment, and where its spans are.
            var tags = new Dictionary<string, string>(trace.Tags, StringComparer.Ordinal)
            {
                ["mlflow.artifactLocation"] = AppendToUri(location, "traces", trace.TraceId, "artifacts"),
                [SpansLocationTag] = "TRACKING_STORE",
            };
            foreach (var (key, value) in tags)
            {
                Execute(connection, transaction, "INSERT INTO trace_tags (key, value, request_id) VALUES ($key, $value, $id);",
                    ("$key", key), ("$value", value), ("$id", trace.TraceId));
            }

            var metadata = new Dictionary<string, string>(trace.Metadata, StringComparer.Ordinal);
            metadata.TryAdd("mlflow.user", _user);
            foreach (var (key, value) in metadata)
            {
                Execute(connection, transaction, "INSERT INTO trace_request_metadata (key, value, request_id) VALUES ($key, $value, $id);",
                    ("$key", key), ("$value", value), ("$id", trace.TraceId));
            }

            foreach (var span in trace.Spans)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Execute(connection, transaction,
                    "INSERT INTO spans (trace_id, experiment_id, span_id, parent_span_id, name, type, status, start_time_unix_nano, end_time_unix_nano, content) " +
                    "VALUES ($trace, $experiment, $span, $parent, $name, $type, $status, $start, $end, $content);",
                    ("$trace", trace.TraceId), ("$experiment", experimentId), ("$span", span.SpanId), ("$parent", span.ParentSpanId), ("$name", span.Name),
                    ("$type", span.SpanType), ("$status", span.Status), ("$start", span.StartNs), ("$end", span.EndNs),
                    ("$content", MlflowSpanContent.Encode(trace.OtelTraceId, span)));
            }

            // As link_traces_to_run: one association per trace and run.
            Execute(connection, transaction,
                "INSERT OR IGNORE INTO entity_associations (association_id, source_type, source_id, destination_type, destination_id, created_time) " +
                "VALUES ($association, 'trace', $trace, 'run', $run, $now);",
                ("$association", Guid.NewGuid().ToString("N")), ("$trace", trace.TraceId), ("$run", runId), ("$now", NowMs()));
            transaction.Commit();
        }
    }

    /// <summary>
    /// Adds <paramref name="assessment"/> to its trace as MLflow feedback: an <c>assessments</c> row with id
    /// <c>a-</c> + 32 hex digits, <c>assessment_type</c> <c>feedback</c>, the value as JSON, <c>valid</c> true. Returns the id.
    /// </summary>
    /// <exception cref="MlflowException"><c>RESOURCE_DOES_NOT_EXIST</c> when the trace is unknown.</exception>
    public async Task<string> LogAssessmentAsync(MlflowAssessment assessment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(assessment);
        var id = "a-" + Guid.NewGuid().ToString("N");
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            if (Scalar<long>(connection, transaction, "SELECT count(*) FROM trace_info WHERE request_id = $id;", ("$id", assessment.TraceId)) == 0)
            {
                throw new MlflowException(MlflowErrorCodes.ResourceDoesNotExist, $"Trace with ID '{assessment.TraceId}' not found.");
            }

            var now = NowMs();
            Execute(connection, transaction,
                "INSERT INTO assessments (assessment_id, trace_id, name, assessment_type, value, error, created_timestamp, last_updated_timestamp, " +
                "source_type, source_id, run_id, span_id, rationale, overrides, valid, assessment_metadata) VALUES " +
                "($id, $trace, $name, 'feedback', $value, NULL, $now, $now, $sourceType, $sourceId, $run, NULL, $rationale, NULL, 1, NULL);",
                ("$id", id), ("$trace", assessment.TraceId), ("$name", assessment.Name),
                ("$value", PythonJson.Dumps(System.Text.Json.Nodes.JsonValue.Create(assessment.Value), asciiOnly: true)), ("$now", now),
                ("$sourceType", assessment.SourceType), ("$sourceId", assessment.SourceId), ("$run", assessment.RunId), ("$rationale", assessment.Rationale));
            transaction.Commit();
        }

        return id;
    }

    /// <summary>
    /// The spans stored for trace <paramref name="traceId"/> (<c>tr-</c> + 32 hex digits), in start order, read back
    /// from the <c>spans</c> rows: ids in hex, the attributes decoded from their JSON text, the status message and
    /// events from the content. Empty when the trace has no spans (unknown, or not written yet).
    /// </summary>
    public async Task<IReadOnlyList<MlflowSpan>> ReadSpansAsync(string traceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(traceId);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var spans = new List<MlflowSpan>();
            using var command = Command(connection, null,
                "SELECT span_id, parent_span_id, name, type, status, start_time_unix_nano, end_time_unix_nano, content FROM spans " +
                "WHERE trace_id = $id ORDER BY start_time_unix_nano, parent_span_id IS NOT NULL, rowid;", ("$id", traceId));
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var (attributes, message, events) = MlflowSpanContent.Decode(reader.GetString(7));
                    spans.Add(new MlflowSpan(
                        reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2),
                        reader.IsDBNull(3) ? "UNKNOWN" : reader.GetString(3), reader.GetString(4), message,
                        reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetInt64(6), attributes, events));
                }
            }

            return spans;
        }
    }

    /// <summary>How many spans the embedded store holds for <paramref name="traceId"/> (for checks and tests).</summary>
    public async Task<long> CountSpansAsync(string traceId, CancellationToken cancellationToken = default)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return Scalar<long>(connection, null, "SELECT count(*) FROM spans WHERE trace_id = $id;", ("$id", traceId));
        }
    }
}
