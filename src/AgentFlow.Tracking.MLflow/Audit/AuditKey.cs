using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AgentFlow.Models;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// The secret that signs run seals and ledger lines (HMAC-SHA256). It is kept outside the record, so someone who can
/// rewrite the store cannot forge a seal: <c>AGENTFLOW_AUDIT_KEY</c> when set (64+ hex digits, or base64 of 32+
/// bytes), else the key file <c>audit.key</c> in the data folder (<see cref="DataDirectories"/>), created with mode
/// 0600 when a run is first recorded. Losing the key makes the seals of runs recorded with it unverifiable.
/// </summary>
public sealed class AuditKey
{
    /// <summary>Environment variable holding the key (hex or base64).</summary>
    public const string KeyVariable = "AGENTFLOW_AUDIT_KEY";

    /// <summary>Name of the key file in the data folder.</summary>
    public const string KeyFileName = "audit.key";

    private const int MinimumBytes = 32;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly byte[] _secret;

    private AuditKey(byte[] secret, string source)
    {
        _secret = secret;
        Source = source;
        // An id that names the key without revealing it: seals and ledger lines carry it, so a verify with another
        // key says "different key" instead of "forged".
        Id = Convert.ToHexStringLower(HMACSHA256.HashData(secret, "agentflow-audit-key-id"u8))[..16];
    }

    /// <summary>Short public id of the key (16 hex digits), recorded in every seal and ledger line.</summary>
    public string Id { get; }

    /// <summary>Where the key came from: <c>AGENTFLOW_AUDIT_KEY</c> or the key file's path.</summary>
    public string Source { get; }

    /// <summary>The key file path: <c>audit.key</c> in the data folder that <paramref name="getVariable"/> resolves.</summary>
    public static string KeyFilePath(Func<string, string?> getVariable) => Path.Combine(DataDirectories.Root(getVariable), KeyFileName);

    /// <summary>
    /// The key to record runs with: <c>AGENTFLOW_AUDIT_KEY</c>, else the key file, created (32 random bytes, mode
    /// 0600) when missing. Safe against another process creating it at the same time.
    /// </summary>
    /// <exception cref="AuditKeyException">The variable or the file is malformed, or the file is readable by others.</exception>
    public static AuditKey LoadOrCreate(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        if (Load(getVariable) is { } existing)
        {
            return existing;
        }

        var path = KeyFilePath(getVariable);
        var folder = Path.GetDirectoryName(path)!;
        var temporary = Path.Combine(folder, $".{KeyFileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(folder);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(MinimumBytes)) + "\n"));
                stream.Flush(flushToDisk: true);
            }

            // Atomic: a concurrent creator's key wins and both processes use it.
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AuditKeyException(
                $"Cannot create the audit key file {path} ({ex.Message}). Set {KeyVariable} (openssl rand -hex 32) or {DataDirectories.HomeVariable} to a writable folder.", ex);
        }
        finally
        {
            File.Delete(temporary);
        }

        return Load(getVariable) ?? throw new AuditKeyException($"The audit key file {path} vanished right after it was created.");
    }

    /// <summary>
    /// The key to verify with: <c>AGENTFLOW_AUDIT_KEY</c>, else the key file; null when neither exists (verifying
    /// never creates a key: a new key could not check any seal).
    /// </summary>
    /// <exception cref="AuditKeyException">The variable or the file is malformed, or the file is readable by others.</exception>
    public static AuditKey? Load(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        if (getVariable(KeyVariable) is { } text && !string.IsNullOrWhiteSpace(text))
        {
            return Parse(text, KeyVariable);
        }

        var path = KeyFilePath(getVariable);
        if (!File.Exists(path))
        {
            return null;
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            throw new AuditKeyException(
                string.Create(CultureInfo.InvariantCulture, $"The audit key file {path} is accessible by other users (mode {Convert.ToString((int)File.GetUnixFileMode(path), 8)}): run chmod 600 {path}."));
        }

        try
        {
            return Parse(File.ReadAllText(path), path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AuditKeyException($"Cannot read the audit key file {path} ({ex.Message}).", ex);
        }
    }

    /// <summary>A key from its text form: 64 or more hex digits, or base64 of at least 32 bytes.</summary>
    /// <exception cref="AuditKeyException">The text is neither, or too short.</exception>
    public static AuditKey Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(source);
        var trimmed = text.Trim();
        byte[]? secret = null;
        if (trimmed.Length % 2 == 0 && trimmed.All(Uri.IsHexDigit))
        {
            secret = Convert.FromHexString(trimmed);
        }
        else
        {
            var buffer = new byte[trimmed.Length];
            if (Convert.TryFromBase64String(trimmed, buffer, out var written))
            {
                secret = buffer[..written];
            }
        }

        if (secret is null || secret.Length < MinimumBytes)
        {
            // The value itself is never echoed: it is a secret.
            throw new AuditKeyException(
                $"The audit key in {source} must be at least {MinimumBytes} random bytes written as 64 or more hex digits (openssl rand -hex 32) or as base64 (openssl rand -base64 32).");
        }

        return new AuditKey(secret, source);
    }

    /// <summary>HMAC-SHA256 of <paramref name="text"/> (UTF-8), lowercase hex.</summary>
    internal string Sign(string text) => Convert.ToHexStringLower(HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(text)));

    /// <summary>Whether <paramref name="mac"/> is this key's signature of <paramref name="text"/> (constant-time).</summary>
    internal bool Verifies(string text, string mac) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(text)), Encoding.ASCII.GetBytes(mac));
}

/// <summary>The audit key is malformed, unreadable or cannot be created; the message says what to fix.</summary>
public sealed class AuditKeyException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public AuditKeyException(string message, Exception? innerException = null) : base(message, innerException) { }
}
