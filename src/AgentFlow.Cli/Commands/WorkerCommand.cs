using System.CommandLine;
using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Models;

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
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var concurrency = new Option<int>("--concurrency") { Description = "Steps served at once per model (a llama context is never shared).", DefaultValueFactory = _ => 1 };
        var id = new Option<string?>("--id") { Description = "Worker id shown in run records (default: host-pid)." };
        var http = new Option<string?>("--http") { Description = "Also serve the models as an OpenAI-compatible API on this address, e.g. 127.0.0.1:8088 (/v1/models, /v1/chat/completions)." };
        var config = CommonOptions.Config();
        var command = new Command("worker", "Serve agent steps for some models from RabbitMQ (AGENTFLOW_RABBITMQ or transport: rabbitmq) and/or over an OpenAI-compatible HTTP API (--http).")
        {
            models, concurrency, id, http, config,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var names = (parse.GetValue(models) ?? [])
                .SelectMany(m => m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Distinct(StringComparer.Ordinal)
                .ToList();
            return await RunAsync(cli, names, parse.GetValue(concurrency), parse.GetValue(id), parse.GetValue(http), parse.GetValue(config), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(CliContext cli, List<string> names, int concurrency, string? id, string? http, string? configPath, CancellationToken cancellationToken)
    {
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

        if (concurrency < 1)
        {
            problems.Add("--concurrency must be at least 1");
        }

        var options = ModelRuntime.ReadOptions(cli, registry);
        var broker = options.Transport == MessagingTransport.RabbitMq;
        if (!broker && http is null)
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

        // Disposed last: without a broker no runtime owns the model host.
        await using var hostOwner = broker ? null : host;
        await using var runtime = broker ? await ModelRuntime.StartWorkerAsync(cli, host, worker, options, CancellationToken.None).ConfigureAwait(false) : null;
        await using var endpoint = http is null ? null : await StartHttpAsync(cli, host, names, http).ConfigureAwait(false);
        var where = string.Join(" and ", new[] { broker ? options.RedactedRabbitMqUri : null, endpoint?.Address.ToString() }.OfType<string>());
        cli.Error.WriteLine($"worker {worker.WorkerId} serving {string.Join(", ", names)} on {where} (Ctrl+C to stop)");
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

    private static async Task<Serving.OpenAI.OpenAIEndpointHandle> StartHttpAsync(CliContext cli, ModelHost host, List<string> names, string address)
    {
        var clients = new Dictionary<string, Microsoft.Extensions.AI.IChatClient>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            clients[name] = (await host.GetAsync(name, CancellationToken.None).ConfigureAwait(false)).Client;
        }

        var url = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        return await Serving.OpenAI.OpenAIEndpoint.StartAsync(url, clients, cli.LoggerFactory, cli.Time, CancellationToken.None).ConfigureAwait(false);
    }
}
