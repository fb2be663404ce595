using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Secrets;

namespace AgentFlow.Tracking.MLflow.Traces;

/// <summary>
/// A run record as an MLflow trace, span for span the tree AgentFlow's OpenTelemetry spans have: the run
/// (<c>CHAIN</c>), a span per step attempt (<c>AGENT</c>, <c>RETRIEVER</c>, <c>CHAIN</c> for composites), the model
/// call of each agent step (<c>CHAT_MODEL</c>, with <c>mlflow.chat.tokenUsage</c> and the GenAI attributes) and its
/// tool calls (<c>TOOL</c>). The trace id is <c>tr-</c> and the run's OpenTelemetry trace id (its run id), span ids
/// are derived from the step keys, so writing a run again (after a resume) replaces the same rows. Every text goes
/// through the secret redactor first.
/// </summary>
public static class RunTraceBuilder
{
    private const int PreviewMaxLength = 1000;

    /// <summary>Builds the trace of <paramref name="record"/>, linked to MLflow run <paramref name="mlflowRunId"/>.</summary>
    public static MlflowTrace Build(RunRecord record, string mlflowRunId, SecretRedactor secrets)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(secrets);
        var traceId = MlflowTrace.IdOf(record.RunId);
        var otelTraceId = traceId[MlflowTrace.IdPrefix.Length..];
        var builder = new Builder(traceId, otelTraceId, secrets);
        var (steps, outputs) = record.Snapshot();

        var rootId = builder.SpanId("run");
        var inputs = builder.Json(new JsonObject(record.Inputs.Select(i => KeyValuePair.Create(i.Key, i.Value?.DeepClone()))));
        JsonNode? outputNode = outputs.Length == 0 ? null : builder.Json(new JsonObject(outputs.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))));
        var waiting = record.Status is RunStatus.Waiting or RunStatus.Running;
        var failed = record.Status is RunStatus.Failed or RunStatus.Cancelled;
        var rootAttributes = builder.Attributes("CHAIN");
        rootAttributes.Add(new("mlflow.spanInputs", inputs));
        if (outputNode is not null)
        {
            rootAttributes.Add(new("mlflow.spanOutputs", outputNode));
        }

        rootAttributes.Add(new("agentflow.run_id", record.RunId));
        rootAttributes.Add(new("agentflow.workflow", record.Workflow));
        rootAttributes.Add(new("agentflow.workflow.version", record.WorkflowVersion));
        rootAttributes.Add(new("agentflow.status", Status(record)));
        foreach (var (alias, model) in record.Bindings)
        {
            rootAttributes.Add(new($"agentflow.binding.{alias}", model));
        }

        var runEnd = record.Ended;
        var rootName = $"agentflow.run {record.Workflow}";
        var spans = new List<MlflowSpan>
        {
            new(rootId, null, rootName, "CHAIN", waiting ? "UNSET" : failed ? "ERROR" : "OK", failed ? builder.Text(record.Error?.Message) : null,
                Ns(record.Started), runEnd is { } e ? Ns(e) : null, rootAttributes,
                failed ? [builder.Exception(runEnd ?? record.Started, record.Error?.Message)] : []),
        };

        long input = 0, output = 0;
        foreach (var step in steps)
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"{step.Id}/{step.Iteration ?? 0}/{step.Attempt}");
            var stepId = builder.SpanId("step/" + key);
            var end = step.Status == StepStatus.Running ? (DateTimeOffset?)null : step.Started + TimeSpan.FromMilliseconds(Math.Max(0, step.LatencyMs));
            var stepFailed = step.Status == StepStatus.Failed;
            var status = step.Status switch { StepStatus.Running => "UNSET", StepStatus.Failed => "ERROR", _ => "OK" };
            var type = step.Kind switch { "agent" => "AGENT", "retrieve" => "RETRIEVER", "approval" => "UNKNOWN", _ => "CHAIN" };
            var attributes = builder.Attributes(type);
            if (step.Kind == "agent")
            {
                var prompt = new JsonObject();
                if (step.System is { } system)
                {
                    prompt["system"] = builder.Text(system);
                }

                prompt["prompt"] = builder.Text(step.Prompt);
                attributes.Add(new("mlflow.spanInputs", prompt));
            }
            else if (step.Retrieval is { } retrieval)
            {
                attributes.Add(new("mlflow.spanInputs", new JsonObject { ["query"] = builder.Text(retrieval.Query), ["collection"] = retrieval.Collection, ["top_k"] = retrieval.TopK }));
            }

            if (step.Output is { } text)
            {
                attributes.Add(new("mlflow.spanOutputs", builder.Text(text)));
            }

            attributes.Add(new("agentflow.run_id", record.RunId));
            attributes.Add(new("agentflow.step.id", step.Id));
            attributes.Add(new("agentflow.step.kind", step.Kind));
            attributes.Add(new("agentflow.step.attempt", step.Attempt));
            if (step.Iteration is { } iteration)
            {
                attributes.Add(new("agentflow.step.iteration", iteration));
            }

            if (step.Worker is { } worker)
            {
                attributes.Add(new("agentflow.worker", worker));
            }

            if (step.QueueWaitMs is { } queued)
            {
                attributes.Add(new("agentflow.queue_wait_ms", queued));
            }

            spans.Add(new(stepId, rootId, step.Kind == "agent" ? $"agentflow.step {step.Id}" : $"agentflow.{step.Kind} {step.Id}", type, status,
                stepFailed ? builder.Text(step.Error) : null, Ns(step.Started), end is { } se ? Ns(se) : null, attributes,
                stepFailed ? [builder.Exception(end ?? step.Started, step.Error)] : []));

            if (step.Kind == "agent" && step.Model is { } model && step.ReplayedFrom is null)
            {
                input += step.InputTokens ?? 0;
                output += step.OutputTokens ?? 0;
                spans.Add(builder.Chat(record, step, key, stepId, status, stepFailed, end));
            }

            var calls = step.ToolCallsSnapshot();
            for (var i = 0; i < calls.Length; i++)
            {
                spans.Add(builder.Tool(calls[i], $"{key}/{i}", stepId));
            }
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["mlflow.traceName"] = rootName,
            ["agentflow.run_id"] = record.RunId,
            ["agentflow.workflow"] = record.Workflow,
            ["agentflow.status"] = Status(record),
        };
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["mlflow.trace_schema.version"] = "3",
            ["mlflow.sourceRun"] = mlflowRunId,
            ["mlflow.source.name"] = record.Workflow,
            ["mlflow.source.type"] = "LOCAL",
            ["mlflow.trace.tokenUsage"] = PythonJson.Dumps(new JsonObject { ["input_tokens"] = input, ["output_tokens"] = output, ["total_tokens"] = input + output }, asciiOnly: true),
        };
        return new MlflowTrace(
            traceId,
            record.Started.ToUnixTimeMilliseconds(),
            runEnd is { } ended ? (long)Math.Round((ended - record.Started).TotalMilliseconds) : null,
            waiting ? "IN_PROGRESS" : failed ? "ERROR" : "OK",
            Preview(inputs),
            outputNode is null ? null : Preview(outputNode),
            tags,
            metadata,
            spans);
    }

    private static string Status(RunRecord record) =>
        record.Waiting is not null ? "waiting" : record.Status.ToString().ToLowerInvariant();

    // As MLflow's client previews a request or response: the JSON text, cut with "..." past 1,000 characters.
    private static string Preview(JsonNode? node)
    {
        var text = PythonJson.Dumps(node, asciiOnly: false);
        return text.Length <= PreviewMaxLength ? text : text[..(PreviewMaxLength - 3)] + "...";
    }

    private static long Ns(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private sealed class Builder(string traceId, string otelTraceId, SecretRedactor secrets)
    {
        // 8 bytes of SHA-256 over the trace and a span's key: stable across rewrites, distinct per span.
        public string SpanId(string key) =>
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(otelTraceId + "/" + key)).AsSpan(0, 8));

        public string? Text(string? text) => secrets.Redact(text);

        public JsonNode? Json(JsonNode node) => JsonNode.Parse(secrets.Redact(node.ToJsonString()) ?? "null");

        public List<KeyValuePair<string, JsonNode?>> Attributes(string type) =>
            [new("mlflow.traceRequestId", traceId), new("mlflow.spanType", type)];

        public MlflowSpanEvent Exception(DateTimeOffset at, string? message) =>
            new("exception", Ns(at), [new("exception.type", "AgentFlow.StepFailed"), new("exception.message", Text(message) ?? string.Empty)]);

        // The model call, in the OpenAI chat format MLflow's trace view renders (messages in, choices out).
        public MlflowSpan Chat(RunRecord record, StepRecord step, string key, string parent, string status, bool failed, DateTimeOffset? end)
        {
            var model = step.Model!;
            var messages = new JsonArray();
            if (step.System is { } system)
            {
                messages.Add(new JsonObject { ["role"] = "system", ["content"] = Text(system) });
            }

            messages.Add(new JsonObject { ["role"] = "user", ["content"] = Text(step.Prompt) });
            var attributes = Attributes("CHAT_MODEL");
            attributes.Add(new("mlflow.spanInputs", new JsonObject { ["model"] = model, ["messages"] = messages }));
            if (step.Output is { } text)
            {
                attributes.Add(new("mlflow.spanOutputs", new JsonObject
                {
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = Text(text) },
                        ["finish_reason"] = step.FinishReason,
                    }),
                    ["model"] = model,
                }));
            }

            if (step.InputTokens is { } input && step.OutputTokens is { } output)
            {
                attributes.Add(new("mlflow.chat.tokenUsage", new JsonObject { ["input_tokens"] = input, ["output_tokens"] = output, ["total_tokens"] = input + output }));
            }

            attributes.Add(new("mlflow.llm.model", model));
            if (record.Models.TryGetValue(model, out var info))
            {
                attributes.Add(new("mlflow.llm.provider", info.Provider));
            }

            attributes.Add(new("gen_ai.operation.name", "chat"));
            attributes.Add(new("gen_ai.request.model", model));
            if (step.InputTokens is { } i)
            {
                attributes.Add(new("gen_ai.usage.input_tokens", i));
            }

            if (step.OutputTokens is { } o)
            {
                attributes.Add(new("gen_ai.usage.output_tokens", o));
            }

            if (step.FinishReason is { } reason)
            {
                attributes.Add(new("gen_ai.response.finish_reasons", new JsonArray(reason)));
            }

            // A worker reports its own model time; in this process the model call is the step's whole latency.
            attributes.Add(new("agentflow.model_ms", step.ModelMs ?? Math.Max(0, step.LatencyMs)));

            // On a worker the model call starts once the request leaves its queue.
            var start = step.QueueWaitMs is { } queued ? step.Started + TimeSpan.FromMilliseconds(Math.Max(0, queued)) : step.Started;
            if (end is { } stop && start > stop)
            {
                start = stop;
            }

            return new(SpanId("chat/" + key), parent, $"chat {model}", "CHAT_MODEL", status, failed ? Text(step.Error) : null,
                Ns(start), end is { } e ? Ns(e) : null, attributes, failed ? [Exception(end ?? step.Started, step.Error)] : []);
        }

        public MlflowSpan Tool(ToolCallRecord call, string key, string parent)
        {
            var failed = call.Status is "failed" or "refused";
            var attributes = Attributes("TOOL");
            JsonNode? arguments;
            try
            {
                arguments = Json(JsonNode.Parse(call.Arguments) ?? new JsonObject());
            }
            catch (System.Text.Json.JsonException)
            {
                arguments = Text(call.Arguments);
            }

            attributes.Add(new("mlflow.spanInputs", arguments));
            if (call.Result is { } result)
            {
                attributes.Add(new("mlflow.spanOutputs", Text(result)));
            }

            attributes.Add(new("gen_ai.operation.name", "execute_tool"));
            attributes.Add(new("gen_ai.tool.name", call.Name));
            attributes.Add(new("agentflow.tool.status", call.Status));
            var end = call.Started + TimeSpan.FromMilliseconds(Math.Max(0, call.LatencyMs));
            return new(SpanId("tool/" + key), parent, $"execute_tool {call.Name}", "TOOL", call.Status == "running" ? "UNSET" : failed ? "ERROR" : "OK",
                failed ? Text(call.Error) : null, Ns(call.Started), call.Status == "running" ? null : Ns(end), attributes,
                failed ? [Exception(end, call.Error)] : []);
        }
    }
}
