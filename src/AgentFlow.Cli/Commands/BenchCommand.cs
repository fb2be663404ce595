using System.CommandLine;
using System.Globalization;
using AgentFlow.Bench;
using AgentFlow.Cli.Output;
using Spectre.Console;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow bench [--scenario NAME]... [--size tiny|default] [--json]</c>: measures the orchestrator's own cost
/// against baselines measured in the same run (see docs/benchmarks.md).
/// </summary>
internal static class BenchCommand
{
    public static Command Create(Func<CliContext> context)
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
        var json = CommonOptions.Json();
        var command = new Command("bench", "Benchmark the orchestrator's overhead against baselines measured in the same run (RabbitMQ scenarios need AGENTFLOW_RABBITMQ).")
        {
            scenario, size, chroma, vectors, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var chromaText = parse.GetValue(chroma) ?? cli.Environment.GetValueOrDefault(BenchOptions.ChromaVariable);
            Uri? chromaUri = null;
            if (!string.IsNullOrWhiteSpace(chromaText) && (!Uri.TryCreate(chromaText.Trim(), UriKind.Absolute, out chromaUri) || chromaUri.Scheme is not ("http" or "https")))
            {
                DiagnosticPrinter.PrintError(cli.Error, $"--chroma '{chromaText}' must be an http(s) URL, e.g. http://127.0.0.1:8765");
                return ExitCodes.BadInput;
            }

            var counts = new List<int>();
            foreach (var part in (parse.GetValue(vectors) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > 1_000_000)
                {
                    DiagnosticPrinter.PrintError(cli.Error, $"--vectors: '{part}' must be a count from 1 to 1000000");
                    return ExitCodes.BadInput;
                }

                counts.Add(count);
            }

            var options = new BenchOptions
            {
                ChromaUri = chromaUri,
                Size = parse.GetValue(size) == "tiny" ? BenchSize.Tiny : BenchSize.Default,
                RabbitMqUri = cli.Environment.TryGetValue(BenchOptions.RabbitMqVariable, out var uri) && Uri.TryCreate(uri.Trim(), UriKind.Absolute, out var parsed) ? parsed : null,
                AgentflowProgram = Environment.ProcessPath,
                Time = cli.Time,
                LoggerFactory = cli.LoggerFactory,
                Progress = line => cli.Error.WriteLine("bench: " + line),
            };
            if (counts.Count > 0)
            {
                options.VectorCounts = counts;
            }

            var report = await BenchSuite.RunAsync(parse.GetValue(scenario) ?? [], options, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(report.ToJson());
            }
            else
            {
                Print(cli.Out, report);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static void Print(TextWriter writer, BenchReport report)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = RedactingWriter.ConsoleOutputFor(writer) });
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
