using System.Diagnostics;
using System.Text;

namespace AgentFlow.Cli.Tests.Shipping;

/// <summary>
/// The packed <c>AgentFlow.Cli</c> tool installed into a private tool path, once per test run. The packages come from
/// <c>AGENTFLOW_TEST_PACKAGES</c> (scripts/test.sh packs them once after its build) or, when unset, from a
/// <c>scripts/pack.sh</c> run here. The install uses only that folder (a nuget.config with nothing else) and a
/// private NuGet cache, so a package of the same version cached by an earlier build is never installed instead.
/// </summary>
public sealed class ToolPackageFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("agentflow-tool-tests-").FullName;

    /// <summary>The installed <c>agentflow</c> command (the tool's shim).</summary>
    public string Agentflow => Path.Combine(Root, "tools", "agentflow");

    /// <summary>The version of the package installed (from its file name).</summary>
    public string Version { get; private set; } = string.Empty;

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["AGENTFLOW_HOME"] = Path.Combine(Root, "home"),
        ["PATH"] = $"{Path.Combine(Root, "tools")}:{System.Environment.GetEnvironmentVariable("PATH")}",
    };

    public async Task InitializeAsync()
    {
        var feed = System.Environment.GetEnvironmentVariable("AGENTFLOW_TEST_PACKAGES") is { Length: > 0 } given
            ? given
            : await PackAsync();
        var pointer = Directory.EnumerateFiles(feed, "AgentFlow.Cli.*.nupkg")
            .Select(Path.GetFileNameWithoutExtension)
            .Select(name => name!["AgentFlow.Cli.".Length..])
            .FirstOrDefault(rest => char.IsAsciiDigit(rest[0]))
            ?? throw new InvalidOperationException($"no AgentFlow.Cli pointer package in {feed}");
        Version = pointer;
        var config = Path.Combine(Root, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
            </configuration>
            """);
        var install = await RunAsync("dotnet", Root, new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(Root, "nuget") },
            "tool", "install", "--tool-path", Path.Combine(Root, "tools"), "--configfile", config, "AgentFlow.Cli", "--version", Version);
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet tool install failed:\n{install}");
        }
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>Runs the installed tool in <paramref name="workingDirectory"/>.</summary>
    internal Task<CliResult> AgentflowAsync(string workingDirectory, params string[] args) => RunAsync(Agentflow, workingDirectory, Environment, args);

    private async Task<string> PackAsync()
    {
        var feed = Path.Combine(Root, "feed");
        var pack = await RunAsync(Path.Combine(CliProcess.RepoRoot, "scripts", "pack.sh"), CliProcess.RepoRoot, null, feed);
        return pack.ExitCode == 0 ? feed : throw new InvalidOperationException($"scripts/pack.sh failed:\n{pack}");
    }

    internal static async Task<CliResult> RunAsync(string file, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Outside a clone: nothing of the repository's configuration may leak into the installed tool's runs.
        info.Environment.Remove("AGENTFLOW_CONFIG");
        info.Environment.Remove("MLFLOW_TRACKING_URI");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
