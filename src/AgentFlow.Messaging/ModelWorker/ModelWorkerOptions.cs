using System.Globalization;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.Contracts;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>
/// What a worker hosts. Defaults: worker id <c>HOSTNAME-PID</c>, no models (add at least one), models loaded before
/// the worker starts consuming, 30 s for in-flight steps to finish at shutdown.
/// </summary>
public sealed class ModelWorkerOptions
{
    /// <summary>Identifies this worker in responses, logs and run records. Default: <c>HOSTNAME-PID</c>.</summary>
    public string WorkerId { get; set; } = DefaultWorkerId();

    /// <summary>One receive endpoint (queue <c>agentflow.model.NAME</c>) per entry.</summary>
    public IList<ModelEndpointOptions> Models { get; } = [];

    /// <summary>
    /// One receive endpoint (queue <c>agentflow.embedder.NAME</c>) per entry; served with the generators given to
    /// <c>AddAgentFlowEmbedderWorker</c>. A worker may serve embedders only.
    /// </summary>
    public IList<ModelEndpointOptions> Embedders { get; } = [];

    /// <summary>
    /// Load every model before consuming (default true), so that a worker never takes a step it then has to wait
    /// for a model load on, and a model that cannot load fails the start rather than a step.
    /// </summary>
    public bool LoadModelsAtStart { get; set; } = true;

    /// <summary>
    /// At shutdown, consuming stops at once and in-flight steps get this long to finish (default 30 s); steps still
    /// running then are cancelled and their messages go back to the queue for another worker.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The default worker id: <c>HOSTNAME-PID</c>.</summary>
    public static string DefaultWorkerId() =>
        string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}");

    /// <summary>Adds a model endpoint and returns these options.</summary>
    /// <param name="name">Registry name of the model.</param>
    /// <param name="concurrentMessageLimit">Steps of this model run at once on this worker (default 1).</param>
    /// <param name="prefetchCount">Messages taken from the broker ahead (default: the concurrency).</param>
    public ModelWorkerOptions AddModel(string name, int concurrentMessageLimit = 1, int? prefetchCount = null)
    {
        Models.Add(new ModelEndpointOptions { Name = name, ConcurrentMessageLimit = concurrentMessageLimit, PrefetchCount = prefetchCount });
        return this;
    }

    /// <summary>Adds an embedder endpoint and returns these options.</summary>
    /// <param name="name">Registry name of the embedder.</param>
    /// <param name="concurrentMessageLimit">Requests of this embedder run at once on this worker (default 1: a batch already uses the cores).</param>
    /// <param name="prefetchCount">Messages taken from the broker ahead (default: the concurrency).</param>
    public ModelWorkerOptions AddEmbedder(string name, int concurrentMessageLimit = 1, int? prefetchCount = null)
    {
        Embedders.Add(new ModelEndpointOptions { Name = name, ConcurrentMessageLimit = concurrentMessageLimit, PrefetchCount = prefetchCount });
        return this;
    }

    /// <summary>Every problem with these options; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(WorkerId))
        {
            problems.Add("worker: WorkerId must not be empty");
        }

        if (Models.Count == 0 && Embedders.Count == 0)
        {
            problems.Add("worker: no models to serve; add at least one (ModelWorkerOptions.AddModel or AddEmbedder)");
        }

        CheckEndpoints(problems, Models, "model", ModelQueues.For);
        CheckEndpoints(problems, Embedders, "embedder", ModelQueues.ForEmbedder);
        MessagingOptions.CheckPositive(problems, nameof(ShutdownTimeout), ShutdownTimeout);
        return problems;
    }

    private static void CheckEndpoints(List<string> problems, IList<ModelEndpointOptions> endpoints, string kind, Func<string, string> queue)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in endpoints)
        {
            try
            {
                _ = queue(model.Name);
            }
            catch (ArgumentException ex)
            {
                problems.Add($"worker: {ex.Message}");
                continue;
            }

            if (!seen.Add(model.Name))
            {
                problems.Add($"worker: {kind} '{model.Name}' is listed twice");
            }

            if (model.ConcurrentMessageLimit is < 1 or > 1024)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"worker: {kind} '{model.Name}': ConcurrentMessageLimit must be 1..1024 (is {model.ConcurrentMessageLimit})"));
            }

            if (model.PrefetchCount is { } prefetch && (prefetch < 1 || prefetch > 65535))
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"worker: {kind} '{model.Name}': PrefetchCount must be 1..65535 (is {prefetch})"));
            }
        }
    }
}

/// <summary>One model a worker serves. Defaults: one step at a time (a llama context is not shared), prefetch = concurrency.</summary>
public sealed class ModelEndpointOptions
{
    /// <summary>Registry name of the model; the queue is <c>agentflow.model.NAME</c>.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Steps of this model running at once on this worker. Default 1.</summary>
    public int ConcurrentMessageLimit { get; set; } = 1;

    /// <summary>Messages taken from the broker ahead of need; null (default) means <see cref="ConcurrentMessageLimit"/>,
    /// so idle competing workers get the next step rather than a busy one.</summary>
    public int? PrefetchCount { get; set; }

    /// <summary>The queue name.</summary>
    public string QueueName => ModelQueues.For(Name);
}
