using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Agents.AI.Workflows.Checkpointing;

namespace AgentFlow.Execution.Durable;

/// <summary>
/// Runs on local disk: <c>&lt;root&gt;/&lt;run id&gt;/run.log</c> (the run's saves, appended), <c>run.json</c> (the
/// log folded into one state now and then), <c>checkpoints.log</c> (the engine's checkpoints, appended, in commit
/// order) and a <c>lease</c> file locked while a process runs the run (the OS drops the lock when the process dies,
/// so a crashed run is free to resume at once). Runs parked by earlier builds, with a <c>checkpoints/</c> folder
/// (one file per checkpoint), still resume: those checkpoints are read, and new ones go to the log.
/// </summary>
/// <remarks>
/// Every save is one append to a file this store keeps open while the run runs here: a whole state on the run's first
/// save in this process and when it parks or ends, otherwise only what changed (one step record and the checkpoint
/// position, <see cref="DurableRun.ToProgressJson"/>), so a save costs the same at step 1 and step 1,000. Loading
/// takes <c>run.json</c>, or the log's last whole state, and applies the changes after it; a line torn by a kill does
/// not parse and is skipped. The log is folded into <c>run.json</c> (write, then rename) only when it outgrows
/// <see cref="FoldBytes"/>: replacing a file by rename makes ext4 write it out at once (~1 ms here). No fsync: a save
/// survives the process crashing or being killed (the OS holds the write), not a power loss or OS crash.
/// </remarks>
public sealed class FileRunStore : IRunStore
{
    /// <summary>The size past which a run's log is folded into <c>run.json</c>.</summary>
    public const long FoldBytes = 1024 * 1024;

    private const string StateFile = "run.json";
    private const string LogFile = "run.log";
    private const string CheckpointLog = "checkpoints.log";
    private const string LegacyCheckpointFolder = "checkpoints"; // read only: runs parked by builds before the log

    private readonly string _root;
    // Runs this instance has written a whole state for and still runs: their open log and checkpoint files.
    private readonly ConcurrentDictionary<string, RunFiles> _open = new(StringComparer.Ordinal);

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
    public Task SaveAsync(DurableRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        cancellationToken.ThrowIfCancellationRequested();
        var files = _open.GetOrAdd(run.RunId, id => new RunFiles(RunDirectory(id)));
        var json = run.ToJson();
        files.AppendState(json);
        if (run.Record.Status != RunStatus.Running && _open.TryRemove(run.RunId, out var done))
        {
            // Parked or ended: nothing is appended until a process resumes it, and that one starts with a whole state.
            done.Dispose();
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task SaveProgressAsync(DurableRun run, StepRecord? changedStep, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        cancellationToken.ThrowIfCancellationRequested();
        if (!_open.TryGetValue(run.RunId, out var files) || files.LogBytes > FoldBytes || run.Record.Status != RunStatus.Running)
        {
            // The first save here (another process may have written the log) or a log to fold: a whole state.
            return SaveAsync(run, cancellationToken);
        }

        // The change goes to UTF-8 in a per-thread buffer and out in one write: no string, no copy per save.
        var line = LineBuffer.Start();
        if (!run.TryWriteProgressJson(changedStep, line.Writer))
        {
            return SaveAsync(run, cancellationToken); // a step the record does not hold: a whole state
        }

        files.AppendChange(line.End());
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<DurableRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        var dir = RunDirectory(runId);
        var path = Path.Combine(dir, StateFile);
        var log = Path.Combine(dir, LogFile);
        string[] lines;
        try
        {
            lines = File.Exists(log) ? await File.ReadAllLinesAsync(log, cancellationToken).ConfigureAwait(false) : [];
        }
        catch (FileNotFoundException)
        {
            lines = []; // folded into run.json meanwhile
        }

        // The newest whole state, then the changes after it; torn lines (a process killed mid-append) are skipped.
        DurableRun? run = null;
        var from = lines.Length;
        while (run is null && --from >= 0)
        {
            run = lines[from].Length > 0 && !DurableRun.IsProgressJson(lines[from]) ? TryParse(lines[from], log) : null;
        }

        // 'from' is the line the state came from, or -1 when the log has none (then run.json is the base).
        if (run is null && File.Exists(path))
        {
            run = DurableRun.FromJson(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path);
        }

        if (run is null)
        {
            return null;
        }

        for (var i = from + 1; i < lines.Length; i++)
        {
            if (DurableRun.IsProgressJson(lines[i]))
            {
                try
                {
                    run.ApplyProgressJson(lines[i], log);
                }
                catch (RunStoreException) when (i == lines.Length - 1)
                {
                    // The last change was torn by a kill: the state before it stands.
                }
            }
        }

        return run;
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
    public JsonCheckpointStore Checkpoints(string runId) => new FileCheckpoints(this, runId, Path.Combine(RunDirectory(runId), CheckpointLog));

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

    /// <summary>Closes the files of runs still open here.</summary>
    public ValueTask DisposeAsync()
    {
        foreach (var id in _open.Keys)
        {
            if (_open.TryRemove(id, out var files))
            {
                files.Dispose();
            }
        }

        return ValueTask.CompletedTask;
    }

    private string RunDirectory(string runId)
    {
        RunIds.ThrowIfInvalid(runId);
        return Path.Combine(_root, runId);
    }

    // A checkpoint written for a run that is not open here (a resume before its first save) opens the checkpoint
    // file for the one write.
    private void AppendCheckpoint(string runId, string path, ReadOnlySpan<byte> line)
    {
        if (_open.TryGetValue(runId, out var files))
        {
            files.AppendCheckpoint(line);
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = RunFiles.OpenAppend(path);
        stream.Write(line);
    }

    /// <summary>The open files of one run this process runs: each save and checkpoint is one write call.</summary>
    private sealed class RunFiles(string dir) : IDisposable
    {
        private readonly Lock _gate = new();
        private FileStream? _log;
        private FileStream? _checkpoints;
        private long _logBytes;

        public long LogBytes => Volatile.Read(ref _logBytes);

        public void AppendState(string json)
        {
            lock (_gate)
            {
                Directory.CreateDirectory(dir);
                // The leading newline ends a line torn by an earlier process; the JSON has no raw newlines.
                var line = Encoding.UTF8.GetBytes("\n" + json + "\n");
                _log ??= OpenAppend(Path.Combine(dir, LogFile));
                _log.Write(line);
                _logBytes = _log.Length;
                if (_logBytes > FoldBytes)
                {
                    // Write then rename: a crash mid-write never leaves a half-written state. The log is deleted only
                    // after run.json holds the same state, so whichever a crash leaves, it is the newest.
                    var path = Path.Combine(dir, StateFile);
                    var temp = path + "." + Environment.ProcessId + ".tmp";
                    File.WriteAllText(temp, json, Encoding.UTF8);
                    File.Move(temp, path, overwrite: true);
                    _log.Dispose();
                    _log = null;
                    _logBytes = 0;
                    File.Delete(Path.Combine(dir, LogFile));
                }
            }
        }

        public void AppendChange(ReadOnlySpan<byte> line)
        {
            lock (_gate)
            {
                _log ??= OpenAppend(Path.Combine(dir, LogFile));
                _log.Write(line);
                _logBytes = _log.Length;
            }
        }

        public void AppendCheckpoint(ReadOnlySpan<byte> line)
        {
            lock (_gate)
            {
                _checkpoints ??= OpenAppend(Path.Combine(dir, CheckpointLog));
                _checkpoints.Write(line);
            }
        }

        public static FileStream OpenAppend(string path) =>
            new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);

        public void Dispose()
        {
            lock (_gate)
            {
                _log?.Dispose();
                _checkpoints?.Dispose();
                _log = _checkpoints = null;
            }
        }
    }

    /// <summary>
    /// The engine's checkpoints of one run, one line each in commit order: <c>id parent json</c>. The index is the
    /// file's complete lines, so an index entry always has its checkpoint.
    /// </summary>
    private sealed class FileCheckpoints(FileRunStore store, string runId, string path) : JsonCheckpointStore
    {
        public override ValueTask<CheckpointInfo> CreateCheckpointAsync(string sessionId, JsonElement value, CheckpointInfo? parent = null)
        {
            var info = new CheckpointInfo(sessionId, Guid.NewGuid().ToString("N"));
            var line = LineBuffer.Start();
            line.WriteAscii(info.CheckpointId);
            line.WriteAscii(" ");
            line.WriteAscii(parent?.CheckpointId ?? "-");
            line.WriteAscii(" ");
            value.WriteTo(line.Writer); // compact: one line
            store.AppendCheckpoint(runId, path, line.End());
            return ValueTask.FromResult(info);
        }

        public override async ValueTask<JsonElement> RetrieveCheckpointAsync(string sessionId, CheckpointInfo key)
        {
            foreach (var (id, _, json) in await ReadAsync().ConfigureAwait(false))
            {
                if (id == key.CheckpointId)
                {
                    using var document = JsonDocument.Parse(json);
                    return document.RootElement.Clone();
                }
            }

            throw new RunStoreException($"checkpoint {key.CheckpointId} of run {sessionId} is missing from {path}");
        }

        public override async ValueTask<IEnumerable<CheckpointInfo>> RetrieveIndexAsync(string sessionId, CheckpointInfo? withParent = null) =>
            (await ReadAsync().ConfigureAwait(false))
                .Where(c => withParent is null || c.Parent == withParent.CheckpointId)
                .Select(c => new CheckpointInfo(sessionId, c.Id)).ToList();

        // Complete lines only: the last one may have been torn by a kill (no newline, or JSON cut short). A run parked
        // by a build before the log (one file per checkpoint) keeps those: they come first, the log continues them.
        private async Task<List<(string Id, string Parent, string Json)>> ReadAsync()
        {
            var result = await ReadLegacyAsync().ConfigureAwait(false);
            if (!File.Exists(path))
            {
                return result;
            }

            var text = await File.ReadAllTextAsync(path).ConfigureAwait(false);
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length - 1; i++)
            {
                var parts = lines[i].Split(' ', 3);
                if (parts.Length == 3 && parts[2].StartsWith('{'))
                {
                    result.Add((parts[0], parts[1], parts[2]));
                }
            }

            return result;
        }

        // Before checkpoints.log: checkpoints/<id>.json, each written before its line in checkpoints/index ("id parent").
        private async Task<List<(string Id, string Parent, string Json)>> ReadLegacyAsync()
        {
            var folder = Path.Combine(Path.GetDirectoryName(path)!, LegacyCheckpointFolder);
            var index = Path.Combine(folder, "index");
            var result = new List<(string, string, string)>();
            if (!File.Exists(index))
            {
                return result;
            }

            foreach (var line in await File.ReadAllLinesAsync(index).ConfigureAwait(false))
            {
                var parts = line.Split(' ');
                var file = parts.Length == 2 && IsCheckpointId(parts[0]) ? Path.Combine(folder, parts[0] + ".json") : null;
                if (file is not null && File.Exists(file))
                {
                    result.Add((parts[0], parts[1], await File.ReadAllTextAsync(file).ConfigureAwait(false)));
                }
            }

            return result;
        }

        private static bool IsCheckpointId(string id) => id.Length is > 0 and <= 64 && id.All(char.IsAsciiLetterOrDigit);
    }
}

/// <summary>
/// One line of a log, built in a buffer kept per thread: a checkpoint line is ~7 KB, and a fresh buffer per line
/// (grown 4 → 8 KB) plus a copy of its header was the store's largest allocation per step. The line is written out
/// before the thread can start another, so one buffer per thread is enough.
/// </summary>
internal sealed class LineBuffer
{
    [ThreadStatic]
    private static LineBuffer? _current;

    private readonly ArrayBufferWriter<byte> _buffer = new(8192);

    private LineBuffer() => Writer = new Utf8JsonWriter(_buffer);

    /// <summary>Writes JSON into the line (compact).</summary>
    public Utf8JsonWriter Writer { get; }

    /// <summary>This thread's buffer, emptied.</summary>
    public static LineBuffer Start()
    {
        var line = _current ??= new LineBuffer();
        if (line._buffer.Capacity > 256 * 1024)
        {
            line = _current = new LineBuffer(); // a huge state once: do not keep its buffer for the thread's life
        }

        line._buffer.ResetWrittenCount();
        line.Writer.Reset(line._buffer);
        return line;
    }

    /// <summary>Appends ASCII text (ids, separators) outside the JSON.</summary>
    public void WriteAscii(string text)
    {
        Writer.Flush();
        var span = _buffer.GetSpan(text.Length);
        _buffer.Advance(Encoding.ASCII.GetBytes(text, span));
        Writer.Reset(_buffer);
    }

    /// <summary>Ends the line with a newline; the span is valid until this thread's next <see cref="Start"/>.</summary>
    public ReadOnlySpan<byte> End()
    {
        Writer.Flush();
        _buffer.Write("\n"u8);
        return _buffer.WrittenSpan;
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
