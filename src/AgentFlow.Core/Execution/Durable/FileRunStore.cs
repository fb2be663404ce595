using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Agents.AI.Workflows.Checkpointing;

namespace AgentFlow.Execution.Durable;

/// <summary>
/// Runs on local disk: <c>&lt;root&gt;/&lt;run id&gt;/run.json</c>, <c>checkpoints/&lt;id&gt;.json</c> with an
/// append-only <c>index</c>, and a <c>lease</c> file locked while a process runs the run (the OS drops the lock
/// when the process dies, so a crashed run is free to resume at once).
/// </summary>
/// <remarks>
/// Saves while a run runs are appended to <c>run.log</c> (one JSON state per line; the last complete line wins), and
/// <c>run.json</c> is rewritten (write, then rename) only now and then, when the run parks or ends, and on the first
/// save of a run in this process: replacing a file by rename makes ext4 write it out at once (~1 ms each here), and a
/// run saves two or three times per step. Neither path calls fsync: a save survives the process crashing or being
/// killed (the OS holds the write), not a power loss or OS crash.
/// </remarks>
public sealed class FileRunStore : IRunStore
{
    private const string StateFile = "run.json";
    private const string LogFile = "run.log";

    // The log is folded into run.json once it is this many times the state's size (and at least MinLogBytes).
    private const int LogGrowthFactor = 8;
    private const long MinLogBytes = 256 * 1024;

    private readonly string _root;
    // Runs this instance has written run.json for (their log holds only this process's lines).
    private readonly ConcurrentDictionary<string, bool> _written = new(StringComparer.Ordinal);

    /// <summary>Opens (creating if needed) the store at <paramref name="root"/>.</summary>
    public FileRunStore(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    /// <inheritdoc />
    public string Description => _root;

    /// <inheritdoc />
    public async Task SaveAsync(DurableRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var dir = RunDirectory(run.RunId);
        Directory.CreateDirectory(dir);
        var json = run.ToJson();
        var log = Path.Combine(dir, LogFile);

        // Appended first, in one write: a process killed mid-append leaves a torn last line, which loading skips (the
        // leading newline ends a line torn by an earlier process). The JSON has no raw newlines.
        var line = Encoding.UTF8.GetBytes("\n" + json + "\n");
        long length;
        var stream = new FileStream(log, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
            length = stream.Length;
        }

        var firstHere = _written.TryAdd(run.RunId, true);
        var stops = run.Record.Status != RunStatus.Running;
        if (stops)
        {
            _written.TryRemove(run.RunId, out _);
        }

        if (firstHere || stops || length > Math.Max(MinLogBytes, (long)LogGrowthFactor * line.Length))
        {
            // Write then rename: a crash mid-write never leaves a half-written state behind. The log is deleted only
            // after run.json holds the same state, so whichever a crash leaves, it is the newest.
            var path = Path.Combine(dir, StateFile);
            var temp = path + "." + Environment.ProcessId + ".tmp";
            await File.WriteAllTextAsync(temp, json, Encoding.UTF8, CancellationToken.None).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
            File.Delete(log);
        }
    }

    /// <inheritdoc />
    public async Task<DurableRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        var dir = RunDirectory(runId);
        var log = Path.Combine(dir, LogFile);
        if (File.Exists(log))
        {
            string[] lines;
            try
            {
                lines = await File.ReadAllLinesAsync(log, cancellationToken).ConfigureAwait(false);
            }
            catch (FileNotFoundException)
            {
                lines = []; // folded into run.json meanwhile
            }

            // The newest complete state; a torn line (process killed mid-append) does not parse and is skipped.
            for (var i = lines.Length - 1; i >= 0; i--)
            {
                if (lines[i].Length > 0 && TryParse(lines[i], log) is { } logged)
                {
                    return logged;
                }
            }
        }

        var path = Path.Combine(dir, StateFile);
        return File.Exists(path) ? DurableRun.FromJson(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path) : null;
    }

    private static DurableRun? TryParse(string line, string where)
    {
        try
        {
            return DurableRun.FromJson(line, where);
        }
        catch (RunStoreException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DurableRun>> ListActiveAsync(CancellationToken cancellationToken)
    {
        var runs = new List<DurableRun>();
        foreach (var dir in Directory.EnumerateDirectories(_root))
        {
            if (await LoadAsync(Path.GetFileName(dir), cancellationToken).ConfigureAwait(false) is { IsActive: true } run)
            {
                runs.Add(run);
            }
        }

        return [.. runs.OrderBy(r => r.Record.Started)];
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DurableRun>> ListRecentAsync(int limit, CancellationToken cancellationToken)
    {
        // Newest folders first by write time, then ordered exactly by the recorded start.
        var runs = new List<DurableRun>();
        foreach (var dir in new DirectoryInfo(_root).EnumerateDirectories().OrderByDescending(d => d.CreationTimeUtc).Take(Math.Max(0, limit) * 2))
        {
            if (await LoadAsync(dir.Name, cancellationToken).ConfigureAwait(false) is { } run)
            {
                runs.Add(run);
            }
        }

        return [.. runs.OrderByDescending(r => r.Record.Started).Take(limit)];
    }

    /// <inheritdoc />
    public JsonCheckpointStore Checkpoints(string runId) => new FileCheckpoints(Path.Combine(RunDirectory(runId), "checkpoints"));

    /// <inheritdoc />
    public Task<IAsyncDisposable?> TryAcquireLeaseAsync(string runId, string owner, CancellationToken cancellationToken)
    {
        var dir = RunDirectory(runId);
        Directory.CreateDirectory(dir);
        try
        {
            var lease = new FileStream(Path.Combine(dir, "lease"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            lease.SetLength(0);
            lease.Write(Encoding.UTF8.GetBytes(owner));
            lease.Flush();
            return Task.FromResult<IAsyncDisposable?>(lease);
        }
        catch (IOException)
        {
            return Task.FromResult<IAsyncDisposable?>(null);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string RunDirectory(string runId)
    {
        RunIds.ThrowIfInvalid(runId);
        return Path.Combine(_root, runId);
    }

    private sealed class FileCheckpoints(string dir) : JsonCheckpointStore
    {
        private readonly string _index = Path.Combine(dir, "index");

        public override async ValueTask<CheckpointInfo> CreateCheckpointAsync(string sessionId, JsonElement value, CheckpointInfo? parent = null)
        {
            Directory.CreateDirectory(dir);
            var info = new CheckpointInfo(sessionId, Guid.NewGuid().ToString("N"));
            var path = Path.Combine(dir, info.CheckpointId + ".json");
            await File.WriteAllTextAsync(path + ".tmp", value.GetRawText()).ConfigureAwait(false);
            File.Move(path + ".tmp", path, overwrite: true);
            // The index line is written after the checkpoint: an index entry always has its file.
            await File.AppendAllTextAsync(_index, $"{info.CheckpointId} {parent?.CheckpointId ?? "-"}\n").ConfigureAwait(false);
            return info;
        }

        public override async ValueTask<JsonElement> RetrieveCheckpointAsync(string sessionId, CheckpointInfo key)
        {
            var path = Path.Combine(dir, key.CheckpointId + ".json");
            if (!File.Exists(path))
            {
                throw new RunStoreException($"checkpoint {key.CheckpointId} of run {sessionId} is missing from {dir}");
            }

            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path).ConfigureAwait(false));
            return document.RootElement.Clone();
        }

        public override async ValueTask<IEnumerable<CheckpointInfo>> RetrieveIndexAsync(string sessionId, CheckpointInfo? withParent = null)
        {
            if (!File.Exists(_index))
            {
                return [];
            }

            var lines = await File.ReadAllLinesAsync(_index).ConfigureAwait(false);
            return lines.Select(l => l.Split(' ')).Where(p => p.Length == 2 && (withParent is null || p[1] == withParent.CheckpointId))
                .Select(p => new CheckpointInfo(sessionId, p[0])).ToList();
        }
    }
}

/// <summary>Run ids as stores accept them: 1 to 64 of [A-Za-z0-9_-] (MLflow ids are 32 hex characters).</summary>
public static class RunIds
{
    /// <summary>Throws when <paramref name="runId"/> could escape a folder or a key prefix.</summary>
    /// <exception cref="RunStoreException">The id is not valid.</exception>
    public static void ThrowIfInvalid(string runId)
    {
        if (string.IsNullOrEmpty(runId) || runId.Length > 64 || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new RunStoreException($"'{runId}' is not a run id (expected up to 64 letters, digits, '-' or '_'; see 'agentflow runs list')");
        }
    }
}
