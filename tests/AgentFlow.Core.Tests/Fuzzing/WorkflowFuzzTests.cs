using System.Globalization;
using System.Text;
using AgentFlow.Definitions;

namespace AgentFlow.Core.Tests.Fuzzing;

/// <summary>
/// Fuzzes the loader and validator in-process with <see cref="WorkflowMutator"/> cases made from workflows/*.yaml:
/// every case must end in diagnostics — no exception escaping, no AF0199 (an internal error), no hang.
/// </summary>
/// <remarks>
/// In-process on purpose: a stack overflow cannot be caught, so this round relies on the guards (TemplateGuard, the
/// YAML depth and alias limits) preventing one — were one to slip through, the test host dies and the run fails
/// loudly. <c>scripts/fuzz.sh</c> runs bigger rounds and also feeds the same cases to <c>agentflow validate</c> in child
/// processes, where a crash is an exit code (134/139). AGENTFLOW_FUZZ_SEED and AGENTFLOW_FUZZ_COUNT change the round;
/// AGENTFLOW_FUZZ_OUT names a folder to write the cases to, for the script.
/// </remarks>
public sealed class WorkflowFuzzTests
{
    private static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(20);

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    [Fact]
    public async Task Parse_MutatedWorkflows_EndInDiagnosticsWithoutInternalErrorsOrHangs()
    {
        var seed = Setting("AGENTFLOW_FUZZ_SEED", 1);
        var count = Setting("AGENTFLOW_FUZZ_COUNT", 3_000);
        var output = Environment.GetEnvironmentVariable("AGENTFLOW_FUZZ_OUT");
        var seeds = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fuzzing", "Seeds"), "*.yaml").Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        Assert.True(seeds.Count >= 5, $"only {seeds.Count} seed workflows");
        var mutator = new WorkflowMutator(seeds, seed);
        var failures = new List<string>();
        for (var i = 0; i < count && failures.Count < 10; i++)
        {
            var bytes = mutator.Next();
            var name = $"case-{seed}-{i:D5}.yaml";
            if (output is not null)
            {
                File.WriteAllBytes(Path.Combine(output, name), bytes);
            }

            var text = Encoding.UTF8.GetString(bytes);
            try
            {
                var result = await Task.Run(() => WorkflowLoader.Parse(text, name)).WaitAsync(PerCaseLimit);
                if (result.Diagnostics.FirstOrDefault(d => d.Code == "AF0199") is { } internalError)
                {
                    failures.Add($"{name}: {internalError}");
                }
            }
            catch (TimeoutException)
            {
                failures.Add($"{name}: no result after {PerCaseLimit.TotalSeconds} s");
            }
            catch (Exception ex)
            {
                failures.Add($"{name}: {ex}");
            }
        }

        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failing case(s) (rerun with AGENTFLOW_FUZZ_SEED={seed} AGENTFLOW_FUZZ_OUT=DIR to get the files):\n" + string.Join('\n', failures));
    }
}
