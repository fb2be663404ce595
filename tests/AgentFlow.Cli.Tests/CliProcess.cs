using System.Diagnostics;
using System.Text;

namespace AgentFlow.Cli.Tests;

/// <summary>Runs the real <c>./agentflow</c> entry point of the checkout as a separate process.</summary>
internal static class CliProcess
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static async Task<CliResult> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(RepoRoot, "agentflow"))
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("AGENTFLOW_CONFIG");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "agentflow")) && File.Exists(Path.Combine(dir.FullName, "AgentFlow.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (the folder holding ./agentflow).");
    }
}

internal sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine($"exit {ExitCode}").AppendLine("--- stdout").AppendLine(Stdout).AppendLine("--- stderr").AppendLine(Stderr);
        return text.ToString();
    }
}

/// <summary>A scratch folder and a private AGENTFLOW_HOME (built-in model cache) shared by a test class.</summary>
public sealed class CliFixture : IDisposable
{
    public CliFixture()
    {
        Root = Directory.CreateTempSubdirectory("agentflow-cli-tests-").FullName;
        Environment = new Dictionary<string, string> { ["AGENTFLOW_HOME"] = Path.Combine(Root, "home") };
    }

    public string Root { get; }

    public IReadOnlyDictionary<string, string> Environment { get; }

    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(Root, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
