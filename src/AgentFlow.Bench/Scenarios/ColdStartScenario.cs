using System.Diagnostics;
using System.Globalization;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// cold-start: wall time of <c>agentflow run hello.yaml</c> (process start to exit, the built binary, built-in tiny
/// model, recording on) against <c>agentflow --version</c> (the same binary starting and exiting).
/// </summary>
internal static class ColdStartScenario
{
    /// <summary>workflows/hello.yaml, as shipped.</summary>
    internal const string HelloWorkflow = """
        name: hello
        version: 1
        description: Greet someone and tighten the greeting.
        inputs:
          name: { type: string, default: world, description: Who to greet. }
        models:
          writer: tiny
        steps:
          - id: greet
            agent:
              model: writer
              system: You write warm, one-line greetings.
              prompt: "Write a greeting for {{ inputs.name }}."
              max_tokens: 24
              temperature: 0
          - id: shorten
            agent:
              model: writer
              prompt: "Make this shorter: {{ steps.greet.output }}"
              max_tokens: 16
              temperature: 0
        outputs:
          greeting: "{{ steps.shorten.output }}"
        """;

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        const string Name = "cold-start";
        if (options.AgentflowProgram is not { } program || !File.Exists(program))
        {
            return ScenarioResult.Skip(Name, options.AgentflowProgram is null ? "no built agentflow program given" : $"'{options.AgentflowProgram}' does not exist");
        }

        Directory.CreateDirectory(folder);
        var workflow = Path.Combine(folder, "hello.yaml");
        await File.WriteAllTextAsync(workflow, HelloWorkflow, cancellationToken).ConfigureAwait(false);
        var (warm, runs) = (options.Pick(0, 1), options.Pick(1, 7));
        var runTimes = new List<double>();
        var versionTimes = new List<double>();
        var phases = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        for (var i = 0; i < warm + runs; i++)
        {
            options.Say($"cold-start: launch {i + 1} of {warm + runs}");
            var launched = options.Time.GetUtcNow();
            var (run, json) = await LaunchAsync(program, ["run", workflow, "--input", "name=Ada", "--json"], folder, options, cancellationToken).ConfigureAwait(false);
            var (version, _) = await LaunchAsync(program, ["--version"], folder, options, cancellationToken).ConfigureAwait(false);
            if (i >= warm)
            {
                runTimes.Add(run);
                versionTimes.Add(version);
                foreach (var (phase, ms) in Breakdown(json, launched, run))
                {
                    (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(ms);
                }
            }
        }

        var details = new Dictionary<string, double>(StringComparer.Ordinal) { ["max_ms"] = runTimes.Max(), ["launches"] = runs };
        foreach (var (phase, values) in phases)
        {
            details[phase + "_ms_p50"] = Math.Round(Stats.Median(values), 1);
        }

        return new ScenarioResult(Name, [
            new BenchRow("agentflow run hello.yaml", Stats.Median(runTimes), "ms wall (p50)", Stats.Median(versionTimes), "agentflow --version (same binary)")
            {
                Details = details,
                Goal = "p50 ≤ 1,000 ms",
                Met = Stats.Median(runTimes) <= 1_000,
            },
        ])
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{runs} launches after {warm} warm-up (OS file cache warm); recording on into a temp folder; in-memory bus; built-in tiny model"),
        };
    }

    /// <summary>
    /// Where one launch's time went, from the run's own record (<c>--json</c>): process start, host and bus start, model
    /// load and MLflow run creation until the run started; the engine until the first step; the first step (a cold
    /// model's first tokens); the rest of the steps; after the result (the record's last writes and shutdown).
    /// </summary>
    private static IEnumerable<(string Phase, double Ms)> Breakdown(string json, DateTimeOffset launched, double wallMs)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var root = document.RootElement;
        var started = root.GetProperty("started").GetDateTimeOffset();
        var duration = root.GetProperty("duration_ms").GetDouble();
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        var toRun = (started - launched).TotalMilliseconds;
        yield return ("to_run_start", toRun);
        if (steps.Count > 0)
        {
            var first = steps[0];
            var firstStart = (first.GetProperty("started").GetDateTimeOffset() - started).TotalMilliseconds;
            var firstMs = first.GetProperty("latency_ms").GetDouble();
            yield return ("engine_to_first_step", firstStart);
            yield return ("first_step", firstMs);
            yield return ("other_steps", Math.Max(0, duration - firstStart - firstMs));
        }

        yield return ("after_result", Math.Max(0, wallMs - toRun - duration));
    }

    private static async Task<(double Ms, string Output)> LaunchAsync(string program, string[] arguments, string folder, BenchOptions options, CancellationToken cancellationToken)
    {
        var dll = program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var start = new ProcessStartInfo(dll ? "dotnet" : program)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (dll)
        {
            start.ArgumentList.Add(program);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The built-in transport and store: nothing from the caller's environment redirects the run.
        start.Environment.Remove("AGENTFLOW_RABBITMQ");
        start.Environment.Remove("AGENTFLOW_REDIS");
        start.Environment.Remove("AGENTFLOW_CONFIG");
        start.Environment.Remove("MLFLOW_TRACKING_URI");
        var began = options.Time.GetTimestamp();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var elapsed = options.Time.GetElapsedTime(began).TotalMilliseconds;
        await Task.WhenAll(output, error).ConfigureAwait(false);
        return process.ExitCode == 0
            ? (elapsed, await output.ConfigureAwait(false))
            : throw new InvalidOperationException($"'{program} {string.Join(' ', arguments)}' exited with {process.ExitCode}: {(await error.ConfigureAwait(false)).Trim()}");
    }
}
