using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// The append-only ledger of sealed runs (<c>ledger.jsonl</c> beside the SQLite store, else
/// <c>.agentflow/ledger.jsonl</c> in the working folder): one line per sealed run with its sequence number, run id,
/// seal hash, time, the SHA-256 of the previous line and an HMAC of the line with the <see cref="AuditKey"/>. A run
/// deleted from the store or replaced by another (even a validly sealed one) no longer matches its line; removing
/// or editing a line breaks the chain of line hashes after it.
/// </summary>
public sealed class RunLedger
{
    /// <summary>The ledger's file name.</summary>
    public const string FileName = "ledger.jsonl";

    private const string File = "ledger.jsonl";
    private static readonly string Genesis = RecordJson.Sha256("agentflow-ledger");

    // One appender at a time in this process; the file lock keeps other processes out.
    private static readonly SemaphoreSlim AppendGate = new(1, 1);

    private readonly TimeProvider _time;

    /// <summary>Creates the ledger at <paramref name="path"/>.</summary>
    public RunLedger(string path, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>The ledger file.</summary>
    public string Path { get; }

    /// <summary>How long an append waits for another process's lock on the file: 10 seconds.</summary>
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The ledger of <paramref name="store"/>: <c>ledger.jsonl</c> beside an embedded store's database, else (an
    /// MLflow server) <c>.agentflow/ledger.jsonl</c> under <paramref name="workingDirectory"/>.
    /// </summary>
    public static RunLedger ForStore(IMlflowStore store, string workingDirectory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        var folder = store is MlflowSqliteStore sqlite
            ? System.IO.Path.GetDirectoryName(sqlite.DatabasePath)!
            : System.IO.Path.Combine(workingDirectory, ".agentflow");
        return new RunLedger(System.IO.Path.Combine(folder, FileName), time);
    }

    /// <summary>Appends the line for a sealed run; returns its sequence number.</summary>
    public async Task<long> AppendAsync(string runId, string sealHash, AuditKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        await AppendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            var stream = await OpenExclusiveAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var (previousLine, previousSequence) = await LastLineAsync(stream, cancellationToken).ConfigureAwait(false);
                var entry = new LedgerEntry(
                    previousSequence + 1,
                    runId,
                    sealHash,
                    _time.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                    previousLine is null ? Genesis : RecordJson.Sha256(previousLine),
                    key.Id,
                    Line: 0);
                var body = Body(entry);
                body["mac"] = key.Sign(RecordJson.Canonical(Body(entry)));
                stream.Seek(0, SeekOrigin.End);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(body.ToJsonString() + "\n"), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                return entry.Sequence;
            }
        }
        finally
        {
            AppendGate.Release();
        }
    }

    /// <summary>
    /// Reads and checks every line: readable, numbered in order, each chained to the line before, signed by
    /// <paramref name="key"/> (unchecked when null). A missing file reads as no lines (<see cref="LedgerContents.Exists"/> false).
    /// </summary>
    public async Task<LedgerContents> ReadAsync(AuditKey? key, CancellationToken cancellationToken)
    {
        if (!System.IO.File.Exists(Path))
        {
            return new LedgerContents(Path, Exists: false, [], [], Head: null);
        }

        var text = await System.IO.File.ReadAllTextAsync(Path, cancellationToken).ConfigureAwait(false);
        var lines = text.Split('\n');
        var entries = new List<LedgerEntry>();
        var problems = new List<string>();
        var previous = Genesis;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var number = i + 1;
            if (line.Length == 0 && i == lines.Length - 1)
            {
                break; // the newline that ends the last line
            }

            previous = CheckLine(line, number, previous, key, entries, problems);
        }

        return new LedgerContents(Path, Exists: true, entries, problems, entries.Count == 0 ? null : RecordJson.Sha256(lines[entries[^1].Line - 1]));
    }

    // Checks one line; returns the hash the next line must chain to.
    private static string CheckLine(string line, int number, string previous, AuditKey? key, List<LedgerEntry> entries, List<string> problems)
    {
        var where = $"{File} line {number}";
        LedgerEntry entry;
        string mac;
        try
        {
            var json = RecordJson.ParseObject(line, where);
            entry = new LedgerEntry(
                RecordJson.Integer(json, "seq", where),
                RecordJson.String(json, "run_id", where),
                RecordJson.String(json, "seal", where),
                RecordJson.String(json, "time", where),
                RecordJson.String(json, "prev", where),
                RecordJson.String(json, "key_id", where),
                number);
            mac = RecordJson.String(json, "mac", where);
        }
        catch (UnreadableRecordException ex)
        {
            problems.Add($"ALTERED/unreadable: {ex.Message}");
            return RecordJson.Sha256(line);
        }

        var lineProblems = new List<string>();
        if (entry.Previous != previous)
        {
            lineProblems.Add("its previous-line hash does not match the line before it (a line before it was removed, inserted or edited)");
        }

        if (entry.Sequence != number)
        {
            lineProblems.Add(string.Create(CultureInfo.InvariantCulture, $"its sequence number is {entry.Sequence}, expected {number}"));
        }

        if (key is not null)
        {
            if (entry.KeyId != key.Id)
            {
                lineProblems.Add($"it was signed with a different key (key id {entry.KeyId}; this key, from {key.Source}, has id {key.Id})");
            }
            else if (!key.Verifies(RecordJson.Canonical(Body(entry)), mac))
            {
                lineProblems.Add("its signature does not match (the line was edited or forged without the key)");
            }
        }

        problems.AddRange(lineProblems.Select(p => $"{where} (run {entry.RunId}): {p}"));
        entries.Add(entry with { Valid = lineProblems.Count == 0 });
        return RecordJson.Sha256(line);
    }

    // The signed part of a line, in a fixed order.
    private static JsonObject Body(LedgerEntry entry) => new()
    {
        ["seq"] = entry.Sequence,
        ["run_id"] = entry.RunId,
        ["seal"] = entry.Seal,
        ["time"] = entry.Time,
        ["prev"] = entry.Previous,
        ["key_id"] = entry.KeyId,
    };

    private async Task<FileStream> OpenExclusiveAsync(CancellationToken cancellationToken)
    {
        var waited = _time.GetTimestamp();
        while (true)
        {
            try
            {
                return new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 4096, useAsync: true);
            }
            catch (IOException) when (_time.GetElapsedTime(waited) < LockTimeout)
            {
                // Another process is appending: its write takes milliseconds.
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // The last complete line and its sequence number (0 and null for an empty ledger); reads only the file's tail.
    private static async Task<(string? Line, long Sequence)> LastLineAsync(FileStream stream, CancellationToken cancellationToken)
    {
        if (stream.Length == 0)
        {
            return (null, 0);
        }

        var tail = (int)Math.Min(stream.Length, 64 * 1024);
        var buffer = new byte[tail];
        stream.Seek(-tail, SeekOrigin.End);
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        var text = Encoding.UTF8.GetString(buffer).TrimEnd('\n');
        var line = text[(text.LastIndexOf('\n') + 1)..];
        try
        {
            var json = RecordJson.ParseObject(line, File);
            return (line, RecordJson.Integer(json, "seq", File));
        }
        catch (UnreadableRecordException ex)
        {
            throw new AuditLedgerException($"The last line of the ledger {stream.Name} is unreadable ({ex.Message}); run 'agentflow runs verify --ledger' and repair it from a backup.");
        }
    }
}

/// <summary>One ledger line.</summary>
/// <param name="Sequence">1 for the first line, then one more per line.</param>
/// <param name="RunId">The sealed run.</param>
/// <param name="Seal">SHA-256 of the run's seal (its canonical text).</param>
/// <param name="Time">When the line was appended, ISO 8601 UTC.</param>
/// <param name="Previous">SHA-256 of the previous line's text (of a fixed genesis text for the first line).</param>
/// <param name="KeyId">Id of the key that signed the line.</param>
/// <param name="Line">Line number in the file (1-based); 0 before it is written.</param>
public sealed record LedgerEntry(long Sequence, string RunId, string Seal, string Time, string Previous, string KeyId, int Line)
{
    /// <summary>Whether the line passed every check (chain, sequence, signature).</summary>
    public bool Valid { get; init; } = true;
}

/// <summary>The ledger as read: its lines and what is wrong with them.</summary>
/// <param name="Path">The ledger file.</param>
/// <param name="Exists">Whether the file exists.</param>
/// <param name="Entries">Readable lines, in order.</param>
/// <param name="Problems">Every problem found, naming the line and run.</param>
/// <param name="Head">SHA-256 of the last readable line: keep a copy elsewhere to detect a truncated ledger.</param>
public sealed record LedgerContents(string Path, bool Exists, IReadOnlyList<LedgerEntry> Entries, IReadOnlyList<string> Problems, string? Head);

/// <summary>The ledger cannot be appended to; the message says what to do.</summary>
public sealed class AuditLedgerException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public AuditLedgerException(string message) : base(message) { }
}
