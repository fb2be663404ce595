using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary><c>index</c>, <c>collections query</c> and a retrieve step with the embeddings computed by a real worker process over a real RabbitMQ.</summary>
public sealed class DistributedEmbeddingTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [RabbitMqFact]
    public async Task IndexQueryAndRetrieve_EmbedderOnWorkerProcess_SameResultsAsInProcessAndFailFastWithoutWorker()
    {
        // Names only this test uses, so parallel tests on the same broker never answer for its embedder.
        var id = Guid.NewGuid().ToString("N")[..8];
        var (embedder, model, collection) = ($"emb-{id}", $"m-{id}", $"kb-{id}");
        var config = fixture.WriteFile($"{embedder}.yaml", $$"""
            models:
              {{model}}: { provider: builtin, seed: 3 }
            embedders:
              {{embedder}}: { provider: minilm }
            collections:
              {{collection}}: { store: embedded, embedder: {{embedder}}, dimensions: 384 }
            """);
        var docs = Path.Combine(fixture.Root, $"docs-{id}");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "refunds.md"), "# Refunds\n\nRefunds are paid back to the original card within 14 days of receiving the return.\n");
        File.WriteAllText(Path.Combine(docs, "shipping.md"), "# Shipping\n\nOrders ship from our Lyon warehouse; delivery takes three to five working days.\n");
        File.WriteAllText(Path.Combine(docs, "passwords.md"), "# Passwords\n\nReset a forgotten password from the sign-in page with the link sent by email.\n");
        var flow = fixture.WriteFile($"{embedder}-flow.yaml", $$"""
            name: retrieve-remote
            version: 1
            steps:
              - id: context
                retrieve: { collection: {{collection}}, query: "how long until I get my money back", top_k: 1 }
            """);
        var local = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_CONFIG"] = config };
        var remote = new Dictionary<string, string>(local) { ["AGENTFLOW_RABBITMQ"] = RabbitMqFactAttribute.Uri! };

        var refused = await CliProcess.RunAsync(fixture.Root, remote, "index", docs, "--collection", collection);
        var runRefused = await CliProcess.RunAsync(fixture.Root, remote, "run", flow, "--json");
        await using var worker = await WorkerProcess.StartAsync(fixture.Root, remote, model, "w-" + embedder, "--embedders", embedder);
        var indexed = await CliProcess.RunAsync(fixture.Root, remote, "index", docs, "--collection", collection);
        var overBus = await CliProcess.RunAsync(fixture.Root, remote, "collections", "query", collection, "how long until I get my money back", "--top", "2", "--json");
        var run = await CliProcess.RunAsync(fixture.Root, remote, "run", flow, "--json");
        var inProcess = await CliProcess.RunAsync(fixture.Root, local, "collections", "query", collection, "how long until I get my money back", "--top", "2", "--json");

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains($"no worker serves embedder '{embedder}'", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, runRefused.ExitCode);
        Assert.Contains($"no worker serves embedder '{embedder}'", runRefused.Stderr, StringComparison.Ordinal);
        Assert.True(indexed.ExitCode == 0, indexed + worker.Log);
        Assert.True(overBus.ExitCode == 0, overBus + worker.Log);
        Assert.Equal(inProcess.Stdout, overBus.Stdout);
        Assert.True(run.ExitCode == 0, run + worker.Log);
        Assert.Contains("refunds.md", run.Stdout, StringComparison.Ordinal);
        using var results = JsonDocument.Parse(overBus.Stdout);
        Assert.EndsWith("refunds.md", results.RootElement[0].GetProperty("source").GetString(), StringComparison.Ordinal);
    }
}
