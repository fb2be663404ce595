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
/// <remarks>
/// The two sides run in pairs, each half after a short pause. Without the pause, one side was slower than the other
/// in nearly every pair of a run (86 against 54 ms), and which side varied from run to run. Most likely (not proven)
/// the other side's llama.cpp OpenMP threads, which spin-wait after a decode, still held a core. The ratio is the
/// median of the pairs' ratios, so a slow spell of the machine, which hits both halves of a pair, moves it less.
/// </remarks>
internal static class InferenceScenario
{
    public const double Goal = 0.97;
    private const string System = "You write warm, one-line greetings.";
    private const string Prompt = "Write a greeting for Ada.";

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var (warm, runs, maxTokens) = (options.Pick(1, 3), options.Pick(2, 25), options.Pick(32, 256));
        var pause = options.Size == BenchSize.Tiny ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromMilliseconds(100);
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
        var ratios = new List<double>();
        var tokens = 0;
        await Warmup.RunAsync(options, warm, async ct =>
        {
            await harness.RunAsync(definition, new Dictionary<string, string>(), ct).ConfigureAwait(false);
            await Task.Run(() => direct.Generate(System, Prompt, maxTokens, ct), ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < runs; i++)
        {
            // Interleaved, so machine noise hits both sides alike; each half after a pause (see remarks).
            await Task.Delay(pause, options.Time, cancellationToken).ConfigureAwait(false);
            var record = await harness.RunAsync(definition, new Dictionary<string, string>(), cancellationToken).ConfigureAwait(false);
            var step = record.Steps.Single(s => s.Id == "gen");
            await Task.Delay(pause, options.Time, cancellationToken).ConfigureAwait(false);
            var start = options.Time.GetTimestamp();
            var generated = await Task.Run(() => direct.Generate(System, Prompt, maxTokens, cancellationToken), cancellationToken).ConfigureAwait(false);
            var directSeconds = options.Time.GetElapsedTime(start).TotalSeconds;
            workflowRates.Add((step.OutputTokens ?? 0) / (step.LatencyMs / 1000));
            directRates.Add(generated / directSeconds);
            ratios.Add(workflowRates[^1] / directRates[^1]);
            tokens = generated;
            if (step.OutputTokens != generated)
            {
                throw new InvalidOperationException($"the workflow step generated {step.OutputTokens} tokens, the direct loop {generated}: the settings differ");
            }
        }

        var figure = Stats.Median(workflowRates);
        var baseline = Stats.Median(directRates);
        var ratio = Stats.Median(ratios);
        return new ScenarioResult("inference", [
            new BenchRow("AgentFlow step (in-memory bus, streamed)", figure, "tokens/s (p50)", baseline, "LLamaSharp decode loop, same GGUF/prompt/context/greedy")
            {
                Goal = string.Create(CultureInfo.InvariantCulture, $"ratio ≥ {Goal:0.00}"),
                Ratio = ratio,
                Met = ratio >= Goal,
                Details = new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    ["tokens_per_call"] = tokens,
                    ["runs"] = runs,
                    ["ratio_of_medians"] = Math.Round(figure / baseline, 4),
                    ["paired_ratio_p10"] = Math.Round(Stats.Percentile(ratios, 10), 4),
                    ["paired_ratio_p90"] = Math.Round(Stats.Percentile(ratios, 90), 4),
                },
            },
        ])
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"built-in tiny llama, {tokens} tokens per call (prompt evaluation included on both sides), {runs} interleaved pairs after a warm-up until the JIT settles, each half after a {pause.TotalMilliseconds:0} ms pause; ratio = median of the pairs' ratios; step time = the run record's step latency"),
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
