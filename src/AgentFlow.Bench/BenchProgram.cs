using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace AgentFlow.Bench;

/// <summary>
/// The benchmark program, <c>AgentFlow.Bench [--scenario NAME]... [--size tiny|default] [--json]</c> (what
/// <c>./agentflow bench</c> runs): measures the orchestrator's own cost against baselines measured in the same run (see
/// docs/benchmarks.md). A program of its own, so the shipped CLI carries neither the bench nor WorkflowCore, the peer
/// engine it compares with. <c>AGENTFLOW_PROGRAM</c> names the <c>agentflow</c> executable the cold-start scenario launches.
/// </summary>
public static class BenchProgram
{
    /// <summary>The variable naming the <c>agentflow</c> program (executable or dll) the cold-start scenario launches.</summary>
    public const string ProgramVariable = "AGENTFLOW_PROGRAM";

    /// <summary>Runs the benchmark with the command line <paramref name="args"/>; returns the exit code (0, or 2 for bad input).</summary>
    public static Task<int> Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var parsed = Create().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // Bad arguments exit 2, as the CLI's do.
            foreach (var error in parsed.Errors)
            {
                Console.Error.WriteLine("error: " + error.Message);
            }

            return Task.FromResult(2);
        }

        return parsed.InvokeAsync();
    }

    private static RootCommand Create()
    {
        var scenario = new Option<string[]>("--scenario", "-s")
        {
            Description = "Run only this scenario (repeatable): " + string.Join(", ", BenchSuite.Names) + ".",
        };
        scenario.AcceptOnlyFromAmong([.. BenchSuite.Names]);
        var size = new Option<string>("--size")
        {
            Description = "tiny: one short pass per scenario (a smoke test); default: full measurement (minutes).",
            DefaultValueFactory = _ => "default",
        };
        size.AcceptOnlyFromAmong("tiny", "default");
        var chroma = new Option<string?>("--chroma")
        {
            Description = "The Chroma server the retrieval scenario measures beside the embedded store (default: AGENTFLOW_CHROMA; neither: embedded store only).",
        };
        var vectors = new Option<string?>("--vectors")
        {
            Description = "Collection sizes the retrieval scenario searches, comma-separated (default 1000,10000,100000).",
        };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout." };
        var command = new RootCommand("Benchmark AgentFlow's overhead against baselines measured in the same run (RabbitMQ scenarios need AGENTFLOW_RABBITMQ).")
        {
            scenario, size, chroma, vectors, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = Console.Error;
            var chromaText = parse.GetValue(chroma) ?? Environment.GetEnvironmentVariable(BenchOptions.ChromaVariable);
            Uri? chromaUri = null;
            if (!string.IsNullOrWhiteSpace(chromaText) && (!Uri.TryCreate(chromaText.Trim(), UriKind.Absolute, out chromaUri) || chromaUri.Scheme is not ("http" or "https")))
            {
                await error.WriteLineAsync($"error: --chroma '{chromaText}' must be an http(s) URL, e.g. http://127.0.0.1:8765").ConfigureAwait(false);
                return 2;
            }

            var counts = new List<int>();
            foreach (var part in (parse.GetValue(vectors) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > 1_000_000)
                {
                    await error.WriteLineAsync($"error: --vectors: '{part}' must be a count from 1 to 1000000").ConfigureAwait(false);
                    return 2;
                }

                counts.Add(count);
            }

            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var options = new BenchOptions
            {
                ChromaUri = chromaUri,
                Size = parse.GetValue(size) == "tiny" ? BenchSize.Tiny : BenchSize.Default,
                RabbitMqUri = Environment.GetEnvironmentVariable(BenchOptions.RabbitMqVariable) is { Length: > 0 } uri && Uri.TryCreate(uri.Trim(), UriKind.Absolute, out var parsed) ? parsed : null,
                AgentflowProgram = Environment.GetEnvironmentVariable(ProgramVariable) is { Length: > 0 } program ? program : null,
                Time = TimeProvider.System,
                LoggerFactory = loggers,
                Progress = line => error.WriteLine("bench: " + line),
            };
            if (counts.Count > 0)
            {
                options.VectorCounts = counts;
            }

            var report = await BenchSuite.RunAsync(parse.GetValue(scenario) ?? [], options, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await Console.Out.WriteLineAsync(report.ToJson()).ConfigureAwait(false);
            }
            else
            {
                Print(report);
            }

            return 0;
        });
        return command;
    }

    private static void Print(BenchReport report)
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            // Piped into a file or a document: wide enough for the table, not the 80 columns Spectre assumes.
            console.Profile.Width = 180;
        }

        console.WriteLine($"machine: {report.Machine}");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("scenario", "measured", "figure", "baseline", "ratio", "goal", "met");
        foreach (var scenario in report.Scenarios)
        {
            if (scenario.Skipped is { } why)
            {
                table.AddRow(Markup.Escape(scenario.Name), Markup.Escape("skipped: " + why), string.Empty, string.Empty, string.Empty, string.Empty, string.Empty);
                continue;
            }

            foreach (var row in scenario.Rows)
            {
                table.AddRow(
                    Markup.Escape(scenario.Name),
                    Markup.Escape(row.Label),
                    Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{row.Figure:#,0.##} {row.Unit}")),
                    Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{row.Baseline:#,0.##} ({row.BaselineLabel})")),
                    string.Create(CultureInfo.InvariantCulture, $"{row.Ratio:0.###}×"),
                    Markup.Escape(row.Goal ?? "—"),
                    row.Met switch { true => "[green]met[/]", false => "[red]missed[/]", null => "—" });
            }
        }

        console.Write(table);
        foreach (var scenario in report.Scenarios.Where(s => s.Skipped is null))
        {
            console.MarkupLine($"[grey]{Markup.Escape(scenario.Name)}: {Markup.Escape(scenario.Note ?? string.Empty)} ({scenario.ElapsedSeconds:0.0} s)[/]");
            foreach (var row in scenario.Rows.Where(r => r.Details.Count > 0))
            {
                var details = string.Join(", ", row.Details.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Key} {d.Value:0.##}")));
                console.MarkupLine($"[grey]  {Markup.Escape(row.Label)}: {Markup.Escape(details)}[/]");
            }
        }
    }
}
