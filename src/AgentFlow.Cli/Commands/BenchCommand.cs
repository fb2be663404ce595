using System.CommandLine;
using System.Diagnostics;
using AgentFlow.Cli.Output;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow bench [ARGS]</c>: starts the benchmark program (src/AgentFlow.Bench, named by <c>AGENTFLOW_BENCH</c>;
/// <c>./agentflow bench</c> builds it and sets it) with the same arguments, and this program as the one its
/// cold-start scenario launches. The benchmark, and WorkflowCore with it, is not part of the shipped CLI.
/// </summary>
internal static class BenchCommand
{
    /// <summary>The variable naming the built benchmark program (executable or dll).</summary>
    public const string Variable = "AGENTFLOW_BENCH";

    public static Command Create(Func<CliContext> context)
    {
        var command = new Command("bench", "Benchmark the orchestrator against baselines measured in the same run: runs the benchmark program (./agentflow bench from a clone builds it; see docs/benchmarks.md). Arguments go to it: --scenario NAME, --size tiny, --json, ...")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            if (cli.Environment.GetValueOrDefault(Variable) is not { Length: > 0 } program || !File.Exists(program))
            {
                DiagnosticPrinter.PrintError(cli.Error,
                    $"the benchmark is a program of its own, not part of the agentflow tool: from a clone of the repository run ./agentflow bench (it builds src/AgentFlow.Bench), or set {Variable} to the built AgentFlow.Bench program");
                return ExitCodes.BadInput;
            }

            var dll = program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
            var start = new ProcessStartInfo(dll ? "dotnet" : program) { UseShellExecute = false };
            if (dll)
            {
                start.ArgumentList.Add(program);
            }

            foreach (var token in parse.UnmatchedTokens)
            {
                start.ArgumentList.Add(token);
            }

            start.Environment["AGENTFLOW_PROGRAM"] = Environment.ProcessPath;
            Process? started;
            try
            {
                started = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                // Not executable, or not a program at all: say which file, not a stack trace.
                DiagnosticPrinter.PrintError(cli.Error, $"{Variable}='{program}' cannot be started ({ex.Message}); point it at the built AgentFlow.Bench program or its .dll");
                return ExitCodes.BadInput;
            }

            using var bench = started ?? throw new AgentFlowException($"cannot start the benchmark program '{program}'");
            try
            {
                await bench.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                bench.Kill(entireProcessTree: true);
                throw;
            }

            return bench.ExitCode;
        });
        return command;
    }
}
