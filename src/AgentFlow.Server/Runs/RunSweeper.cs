using AgentFlow.Execution.Durable;
using AgentFlow.Server.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Server.Runs;

/// <summary>
/// At start and then every sweep: continues every run that is not finished and not owned by a live process
/// (interrupted runs, runs whose owner died and whose lease lapsed, approvals whose timeout passed). With Redis
/// several servers share the runs; the lease decides who continues one. It begins only once the bound addresses
/// passed the security check, so a server that refuses to start never touches a run.
/// </summary>
internal sealed partial class RunSweeper(
    IRunStore runs, IRunExecutor executor, RunLauncher launcher, ApiSecurity security, ServerOptions options, TimeProvider time, ILogger<RunSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await security.WhenVerifiedAsync(stoppingToken).ConfigureAwait(false))
        {
            return;
        }

        using var timer = new PeriodicTimer(options.SweepInterval, time);
        try
        {
            do
            {
                try
                {
                    await SweepAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is AgentFlowException or IOException)
                {
                    LogSweepFailed(logger, ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The server stops; runs in flight stay resumable.
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var run in await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
        {
            var due = run.Record.Status == Execution.RunStatus.Running || run.Record.Waiting?.Deadline <= now;
            // A child run (workflow step) is continued by its parent, which reuses or resumes it: never twice at once.
            if (!due || run.Record.ParentRunId is not null || launcher.Contains(run.RunId))
            {
                continue;
            }

            // Probe the lease: a live owner (this process or another) keeps its run.
            var probe = await runs.TryAcquireLeaseAsync(run.RunId, "probe", cancellationToken).ConfigureAwait(false);
            if (probe is null)
            {
                continue;
            }

            await probe.DisposeAsync().ConfigureAwait(false);
            LogTakingOver(logger, run.RunId, run.Record.Status);
            var runId = run.RunId;
            launcher.Launch(runId, observer => executor.ContinueAsync(runId, answer: null, observer, CancellationToken.None));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "serve: sweep failed: {Reason}")]
    private static partial void LogSweepFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "serve: continuing run {RunId} ({Status})")]
    private static partial void LogTakingOver(ILogger logger, string runId, Execution.RunStatus status);
}
