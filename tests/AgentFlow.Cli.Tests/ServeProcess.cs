using System.Diagnostics;
using System.Text.RegularExpressions;

namespace AgentFlow.Cli.Tests;

/// <summary>A real <c>./agentflow serve</c> process on a free loopback port.</summary>
internal sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _log = new();
    private readonly Lock _gate = new();

    private ServeProcess(Process process)
    {
        _process = process;
        process.ErrorDataReceived += (_, e) => { lock (_gate) { _log.AppendLine(e.Data); } };
        process.OutputDataReceived += (_, e) => { lock (_gate) { _log.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public Uri Address { get; private set; } = null!;

    public string Log
    {
        get { lock (_gate) { return _log.ToString(); } }
    }

    public static async Task<ServeProcess> StartAsync(string dir, IReadOnlyDictionary<string, string> env, params string[] extra)
    {
        var info = new ProcessStartInfo(Path.Combine(CliProcess.RepoRoot, "agentflow")) { WorkingDirectory = dir, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in ServeArguments.Concat(extra))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }

        var serve = new ServeProcess(Process.Start(info)!);
        var deadline = Stopwatch.StartNew();
        while (ListeningOn().Match(serve.Log) is not { Success: true } match)
        {
            if (serve._process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"serve did not start:\n{serve.Log}");
            }

            await Task.Delay(50);
        }

        serve.Address = new Uri(ListeningOn().Match(serve.Log).Groups[1].Value);
        return serve;
    }

    private static readonly string[] ServeArguments = ["serve", "--urls", "http://127.0.0.1:0", "-v"];

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();

    public void Kill() => _process.Kill(entireProcessTree: true);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
