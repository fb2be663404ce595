using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentFlow.Models.Llama.Hosting;

/// <summary>
/// SHA-256 of model files, remembered by (full path, length, last write time) in memory and in small sidecar
/// files under a cache folder, so a multi-gigabyte GGUF file is hashed once rather than on every run.
/// </summary>
public sealed class FileHashCache
{
    private const string EntryVersion = "agentflow-sha256-v1";
    private readonly ConcurrentDictionary<(string Path, long Length, long Ticks), string> _memory = new();

    /// <summary>Creates a cache persisted under <paramref name="directory"/>; null keeps it in memory only.</summary>
    public FileHashCache(string? directory)
    {
        Directory = directory is null ? null : Path.GetFullPath(directory);
    }

    /// <summary>A cache under <c>&lt;data root&gt;/cache/sha256</c> (see <see cref="DataDirectories"/>).</summary>
    public static FileHashCache CreateDefault() => new(Path.Combine(DataDirectories.Root(), "cache", "sha256"));

    /// <summary>The folder of the sidecar entries, or null when in memory only.</summary>
    public string? Directory { get; }

    /// <summary>The lowercase hex SHA-256 of the file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public async Task<string> GetSha256Async(string path, CancellationToken cancellationToken)
    {
        var info = new FileInfo(Path.GetFullPath(path));
        if (!info.Exists)
        {
            throw new FileNotFoundException($"file '{info.FullName}' does not exist", info.FullName);
        }

        var key = (info.FullName, info.Length, info.LastWriteTimeUtc.Ticks);
        if (_memory.TryGetValue(key, out var known))
        {
            return known;
        }

        var entryPath = EntryPath(info.FullName);
        var stored = entryPath is null ? null : TryRead(entryPath, key.Length, key.Ticks);
        if (stored is not null)
        {
            _memory[key] = stored;
            return stored;
        }

        string hash;
        var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (stream.ConfigureAwait(false))
        {
            hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        }

        _memory[key] = hash;
        if (entryPath is not null)
        {
            TryWrite(entryPath, info.FullName, key.Length, key.Ticks, hash);
        }

        return hash;
    }

    private string? EntryPath(string fullPath)
    {
        if (Directory is null)
        {
            return null;
        }

        var name = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fullPath)).AsSpan(0, 16));
        return Path.Combine(Directory, name + ".txt");
    }

    private static string? TryRead(string entryPath, long length, long ticks)
    {
        try
        {
            if (!File.Exists(entryPath))
            {
                return null;
            }

            var lines = File.ReadAllLines(entryPath);
            return lines.Length >= 5
                && lines[0] == EntryVersion
                && lines[2] == length.ToString(CultureInfo.InvariantCulture)
                && lines[3] == ticks.ToString(CultureInfo.InvariantCulture)
                && lines[4].Length == 64
                ? lines[4]
                : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void TryWrite(string entryPath, string fullPath, long length, long ticks, string hash)
    {
        // The cache is an optimisation: failing to write it must never fail a run.
        var temp = $"{entryPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(entryPath)!);
            File.WriteAllText(temp, string.Join('\n', EntryVersion, fullPath, length.ToString(CultureInfo.InvariantCulture), ticks.ToString(CultureInfo.InvariantCulture), hash, ""));
            File.Move(temp, entryPath, overwrite: true);
        }
        catch (IOException)
        {
            TryDelete(temp);
        }
        catch (UnauthorizedAccessException)
        {
            TryDelete(temp);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
