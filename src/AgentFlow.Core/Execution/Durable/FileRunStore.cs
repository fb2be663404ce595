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
public sealed class FileRunStore : IRunStore
{
    private readonly string _root;

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
        // Write then rename: a crash mid-write never leaves a half-written state behind.
        var path = Path.Combine(dir, "run.json");
        var temp = path + "." + Environment.ProcessId + ".tmp";
        await File.WriteAllTextAsync(temp, run.ToJson(), Encoding.UTF8, cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    /// <inheritdoc />
    public async Task<DurableRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        var path = Path.Combine(RunDirectory(runId), "run.json");
        return File.Exists(path) ? DurableRun.FromJson(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path) : null;
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
