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
        var config = CommonOptions.Config();
        var command = new Command("worker", "Serve agent steps for some models from RabbitMQ (AGENTFLOW_RABBITMQ or transport: rabbitmq).")
        {
            models, concurrency, id, config,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var names = (parse.GetValue(models) ?? [])
                .SelectMany(m => m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Distinct(StringComparer.Ordinal)
                .ToList();
            return await RunAsync(cli, names, parse.GetValue(concurrency), parse.GetValue(id), parse.GetValue(config), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(CliContext cli, List<string> names, int concurrency, string? id, string? configPath, CancellationToken cancellationToken)
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
        if (options.Transport != MessagingTransport.RabbitMq)
        {
            problems.Add($"a worker serves steps from RabbitMQ: set {MessagingOptions.RabbitMqVariable}=amqp://user:pass@host:5672/ or 'transport: rabbitmq' in agentflow.yaml");
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

        await using var runtime = await ModelRuntime.StartWorkerAsync(cli, host, worker, options, CancellationToken.None).ConfigureAwait(false);
        cli.Error.WriteLine($"worker {worker.WorkerId} serving {string.Join(", ", names)} on {options.RedactedRabbitMqUri} (Ctrl+C to stop)");
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
}
