using System.CommandLine;
using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Models;
using Microsoft.Extensions.AI;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow worker --models qwen,tiny</c>: loads the named models and serves agent steps for exactly those models
/// from the broker (one queue per model; several workers on a model share its queue). Stops gracefully on Ctrl+C or
/// SIGTERM: steps in flight finish (or go back to the queue after the shutdown timeout).
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var models = new Option<string[]>("--models", "-m")
        {
            Description = "Models to load and serve, comma-separated or repeated (registry names).",
            AllowMultipleArgumentsPerToken = true,
        };
        var embedders = new Option<string[]>("--embedders")
        {
            Description = "Embedding models to serve from RabbitMQ (queue agentflow.embedder.NAME) and, with --http, on /v1/embeddings; comma-separated or repeated (registry embedders:, or the built-in minilm).",
            AllowMultipleArgumentsPerToken = true,
        };
        var concurrency = new Option<int>("--concurrency") { Description = "Steps served at once per model (a llama context is never shared).", DefaultValueFactory = _ => 1 };
        var id = new Option<string?>("--id") { Description = "Worker id shown in run records (default: host-pid)." };
        var http = new Option<string?>("--http") { Description = "Also serve the models as an OpenAI-compatible API on this address, e.g. 127.0.0.1:8088 (/v1/models, /v1/chat/completions, /v1/embeddings)." };
        var config = CommonOptions.Config();
        var command = new Command("worker", "Serve agent steps for some models from RabbitMQ (AGENTFLOW_RABBITMQ or transport: rabbitmq) and/or over an OpenAI-compatible HTTP API (--http).")
        {
            models, embedders, concurrency, id, http, config,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var served = new Served(Names(parse.GetValue(models)), Names(parse.GetValue(embedders)));
            return await RunAsync(cli, served, parse.GetValue(concurrency), parse.GetValue(id), parse.GetValue(http), parse.GetValue(config), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static List<string> Names(string[]? values) =>
        [.. (values ?? []).SelectMany(m => m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal)];

    private static async Task<int> RunAsync(CliContext cli, Served served, int concurrency, string? id, string? http, string? configPath, CancellationToken cancellationToken)
    {
        var names = served.Models;
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        var host = new ModelHost(registry, cli.CreateProviders());
        var problems = new List<string>();
        foreach (var name in names)
        {
            if (!registry.TryGet(name, out var spec))
            {
                problems.Add($"unknown model '{name}'{Diagnostics.NameSuggestion.DidYouMean(name, registry.Models.Keys)} (known: {string.Join(", ", registry.Models.Keys)})");
                continue;
            }

            problems.AddRange(host.Check(spec));
        }

        await using var embedderHost = new Retrieval.Embedding.EmbedderHost(registry, CliContext.CreateEmbeddingProviders());
        foreach (var name in served.Embedders)
        {
            if (!registry.Embedders.TryGetValue(name, out var spec))
            {
                problems.Add($"unknown embedder '{name}'{Diagnostics.NameSuggestion.DidYouMean(name, registry.Embedders.Keys)} (known: {string.Join(", ", registry.Embedders.Keys)})");
                continue;
            }

            if (names.Contains(name, StringComparer.Ordinal))
            {
                problems.Add($"'{name}' is both in --models and in --embedders: the HTTP API names each model once; rename one in agentflow.yaml");
            }

            problems.AddRange(embedderHost.Check(spec));
        }

        if (names.Count == 0 && served.Embedders.Count == 0)
        {
            problems.Add("name the models to serve: --models tiny and/or --embedders minilm");
        }

        if (concurrency < 1)
        {
            problems.Add("--concurrency must be at least 1");
        }

        var options = ModelRuntime.ReadOptions(cli, registry);
        var broker = options.Transport == MessagingTransport.RabbitMq && (names.Count > 0 || served.Embedders.Count > 0);
        if (!broker && http is null && (names.Count > 0 || served.Embedders.Count > 0))
        {
            problems.Add($"a worker serves steps from RabbitMQ: set {MessagingOptions.RabbitMqVariable}=amqp://user:pass@host:5672/ or 'transport: rabbitmq' in agentflow.yaml (or serve HTTP only with --http 127.0.0.1:8088)");
        }

        if (problems.Count > 0)
        {
            problems.ForEach(p => DiagnosticPrinter.PrintError(cli.Error, p));
            await host.DisposeAsync().ConfigureAwait(false);
            return ExitCodes.BadInput;
        }

        var worker = new ModelWorkerOptions();
        if (id is not null)
        {
            worker.WorkerId = id;
        }

        foreach (var name in names)
        {
            worker.AddModel(name, concurrency);
        }

        foreach (var name in served.Embedders)
        {
            worker.AddEmbedder(name, concurrency);
        }

        // Disposed last: without a broker no runtime owns the model host.
        await using var hostOwner = broker ? null : host;
        await using var runtime = broker ? await ModelRuntime.StartWorkerAsync(cli, host, worker, options, CancellationToken.None, embedderHost).ConfigureAwait(false) : null;
        await using var endpoint = http is null ? null : await StartHttpAsync(cli, host, embedderHost, served, http).ConfigureAwait(false);
        var where = string.Join(" and ", new[] { broker ? options.RedactedRabbitMqUri : null, endpoint?.Address.ToString() }.OfType<string>());
        cli.Error.WriteLine($"worker {worker.WorkerId} serving {string.Join(", ", names.Concat(served.Embedders))} on {where} (Ctrl+C to stop)");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            cli.Error.WriteLine($"worker {worker.WorkerId} stopping: finishing steps in flight...");
        }

        return ExitCodes.Success;
    }

    private static async Task<Serving.OpenAI.OpenAIEndpointHandle> StartHttpAsync(
        CliContext cli, ModelHost host, Retrieval.Embedding.EmbedderHost embedderHost, Served served, string address)
    {
        var clients = new Dictionary<string, IChatClient>(StringComparer.Ordinal);
        foreach (var name in served.Models)
        {
            clients[name] = (await host.GetAsync(name, CancellationToken.None).ConfigureAwait(false)).Client;
        }

        var embedders = new Dictionary<string, IEmbeddingGenerator<string, Embedding<float>>>(StringComparer.Ordinal);
        foreach (var name in served.Embedders)
        {
            embedders[name] = (await embedderHost.GetAsync(name, CancellationToken.None).ConfigureAwait(false)).Generator;
        }

        var url = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        return await Serving.OpenAI.OpenAIEndpoint.StartAsync(url, clients, embedders, cli.LoggerFactory, cli.Time, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>What a worker serves: chat models and embedding models (broker and HTTP).</summary>
    private sealed record Served(List<string> Models, List<string> Embedders);
}
