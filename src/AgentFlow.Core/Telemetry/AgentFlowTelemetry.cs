using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AgentFlow.Telemetry;

/// <summary>
/// The one <see cref="ActivitySource"/> and <see cref="Meter"/> AgentFlow reports through (both named
/// <see cref="Name"/>). Plain System.Diagnostics: nothing is collected, and nothing costs, until a listener (the
/// OpenTelemetry SDK a host starts when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, or a test) subscribes.
/// </summary>
public static class AgentFlowTelemetry
{
    /// <summary>The source and meter name: <c>AgentFlow</c>.</summary>
    public const string Name = "AgentFlow";

    /// <summary>
    /// The environment variable the OpenTelemetry GenAI instrumentations use to opt in to prompt and response content
    /// in spans (<c>true</c> to record it; off by default, as the semantic conventions ask).
    /// </summary>
    public const string CaptureContentVariable = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

    /// <summary>Spans: a run, its step attempts and the model call inside each agent step.</summary>
    public static ActivitySource Source { get; } = new(Name, typeof(AgentFlowTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Runs, steps, tokens, cost and approvals as metrics.</summary>
    public static Meter Meter { get; } = new(Name, typeof(AgentFlowTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Whether anything listens (spans or metrics): hosts create a <see cref="RunTracer"/> only then, so a run costs
    /// nothing when nothing exports (no OTLP endpoint, no <c>/metrics</c>).
    /// </summary>
    public static bool Enabled => Source.HasListeners() || RunsStarted.Enabled;

    internal static Counter<long> RunsStarted { get; } = Meter.CreateCounter<long>("agentflow.runs.started", "{run}", "Runs started (or resumed), by workflow.");

    internal static Counter<long> RunsFinished { get; } = Meter.CreateCounter<long>("agentflow.runs.finished", "{run}", "Runs ended, by workflow and status.");

    internal static Histogram<double> StepDuration { get; } = Meter.CreateHistogram<double>("agentflow.step.duration", "s", "Step attempt latency, by step kind, model and status.");

    internal static Histogram<long> TokenUsage { get; } = Meter.CreateHistogram<long>("gen_ai.client.token.usage", "{token}", "Tokens per model call, by model and gen_ai.token.type (input/output).");

    internal static Counter<double> Cost { get; } = Meter.CreateCounter<double>("agentflow.cost", "USD", "Model cost, by model.");

    internal static UpDownCounter<long> ApprovalsWaiting { get; } = Meter.CreateUpDownCounter<long>("agentflow.approvals.waiting", "{run}", "Runs parked at an approval in this process.");

    internal static Counter<long> ToolCalls { get; } = Meter.CreateCounter<long>("agentflow.tool.calls", "{call}", "Tool calls agent steps made, by tool name and status (succeeded, failed, refused).");

    internal static Counter<long> StepRetries { get; } = Meter.CreateCounter<long>("agentflow.step.retries", "{attempt}", "Step attempts after the first, by step kind and model.");
}
