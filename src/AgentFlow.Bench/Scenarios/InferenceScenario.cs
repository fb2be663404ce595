using System.Globalization;
using System.Text;
using AgentFlow.Bench.Harness;
using AgentFlow.Definitions;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Providers;
using LLama;
using LLama.Common;
using LLama.Native;
using Microsoft.Extensions.AI;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// inference: tokens/s generating through a one-step workflow (in-memory bus, as <c>./agentflow run</c>) on the
/// built-in tiny GGUF, against a plain LLamaSharp decode loop on the same weights, prompt, context and greedy sampling.
/// </summary>
internal static class InferenceScenario
{
    public const double Goal = 0.97;
    private const string System = "You write warm, one-line greetings.";
    private const string Prompt = "Write a greeting for Ada.";

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var (warm, runs, maxTokens) = (options.Pick(1, 3), options.Pick(2, 15), options.Pick(32, 256));
        var settings = new HarnessSettings(StepTransport.InMemoryBus, Record: false, Memory: false);
        await using var harness = await AgentFlowHarness.StartAsync(settings, [new BuiltinModelProvider()], folder, options, cancellationToken).ConfigureAwait(false);
        var loaded = await harness.Models.GetAsync("tiny", cancellationToken).ConfigureAwait(false);
        var client = loaded.Client.GetService<LlamaChatClient>() ?? throw new InvalidOperationException("the built-in model is not a LlamaChatClient");
        var definition = WorkflowLoader.Parse(
            string.Create(CultureInfo.InvariantCulture, $"name: bench-inference\nversion: 1\nmodels:\n  m: tiny\nsteps:\n  - id: gen\n    agent:\n      model: m\n      system: {System}\n      prompt: {Prompt}\n      max_tokens: {maxTokens}\n      temperature: 0\noutputs:\n  text: \"{{{{ steps.gen.output }}}}\"\n"),
            "bench-inference.yaml").GetDefinitionOrThrow();

        using var direct = new DirectLlama(client, BuiltinModelOptions.DefaultThreads);
        var workflowRates = new List<double>();
        var directRates = new List<double>();
        var tokens = 0;
        await Warmup.RunAsync(options, warm, async ct =>
        {
            await harness.RunAsync(definition, new Dictionary<string, string>(), ct).ConfigureAwait(false);
            await Task.Run(() => direct.Generate(System, Prompt, maxTokens, ct), ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < runs; i++)
        {
            // Interleaved, so machine noise hits both sides alike.
            var record = await harness.RunAsync(definition, new Dictionary<string, string>(), cancellationToken).ConfigureAwait(false);
            var step = record.Steps.Single(s => s.Id == "gen");
            var start = options.Time.GetTimestamp();
            var generated = await Task.Run(() => direct.Generate(System, Prompt, maxTokens, cancellationToken), cancellationToken).ConfigureAwait(false);
            var directSeconds = options.Time.GetElapsedTime(start).TotalSeconds;
            workflowRates.Add((step.OutputTokens ?? 0) / (step.LatencyMs / 1000));
            directRates.Add(generated / directSeconds);
            tokens = generated;
            if (step.OutputTokens != generated)
            {
                throw new InvalidOperationException($"the workflow step generated {step.OutputTokens} tokens, the direct loop {generated}: the settings differ");
            }
        }

        var figure = Stats.Median(workflowRates);
        var baseline = Stats.Median(directRates);
        return new ScenarioResult("inference", [
            new BenchRow("AgentFlow step (in-memory bus, streamed)", figure, "tokens/s (p50)", baseline, "LLamaSharp decode loop, same GGUF/prompt/context/greedy")
            {
                Goal = string.Create(CultureInfo.InvariantCulture, $"ratio ≥ {Goal:0.00}"),
                Met = figure / baseline >= Goal,
                Details = new Dictionary<string, double>(StringComparer.Ordinal) { ["tokens_per_call"] = tokens, ["runs"] = runs },
            },
        ])
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"built-in tiny llama, {tokens} tokens per call (prompt evaluation included on both sides), {runs} interleaved pairs after a warm-up until the JIT settles; step time = the run record's step latency"),
        };
    }

    /// <summary>LLamaSharp used directly: a context like the client's, tokenize, decode, sample greedily, detokenize.</summary>
    private sealed class DirectLlama : IDisposable
    {
        private readonly LLamaWeights _weights;
        private readonly LLamaContext _context;

        public DirectLlama(LlamaChatClient client, int threads)
        {
            _weights = client.Weights;
            _context = _weights.CreateContext(new ModelParams(string.Empty)
            {
                ContextSize = (uint)client.ContextSize,
                Threads = threads,
                BatchThreads = threads,
                BatchSize = 512,
                UBatchSize = 512,
                SeqMax = 1,
            });
        }

        public int Generate(string system, string prompt, int maxTokens, CancellationToken cancellationToken)
        {
            var template = new LLamaTemplate(_weights, strict: false) { AddAssistant = true };
            template.Add("system", system);
            template.Add("user", prompt);
            var tokens = _weights.Tokenize(Encoding.UTF8.GetString(template.Apply()), add_bos: true, special: true, Encoding.UTF8);
            using var sampler = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
            sampler.AddGreedySampler();
            var batch = new LLamaBatch();
            var decoder = new StreamingTokenDecoder(_context);
            var text = new StringBuilder();
            _context.NativeHandle.MemoryClear();
            batch.AddRange(tokens, 0, LLamaSeqId.Zero, logitsLast: true);
            Check(_context.Decode(batch));
            var token = sampler.Sample(_context.NativeHandle, batch.TokenCount - 1);
            var position = tokens.Length;
            var generated = 0;
            while (!token.IsEndOfGeneration(_weights.Vocab))
            {
                cancellationToken.ThrowIfCancellationRequested();
                generated++;
                decoder.Add(token);
                text.Append(decoder.Read());
                if (generated >= maxTokens)
                {
                    break;
                }

                batch.Clear();
                batch.Add(token, position++, LLamaSeqId.Zero, logits: true);
                Check(_context.Decode(batch));
                token = sampler.Sample(_context.NativeHandle, 0);
            }

            return generated;
        }

        private static void Check(DecodeResult result)
        {
            if (result != DecodeResult.Ok)
            {
                throw new InvalidOperationException($"llama.cpp decode failed: {result}");
            }
        }

        public void Dispose() => _context.Dispose();
    }
}
