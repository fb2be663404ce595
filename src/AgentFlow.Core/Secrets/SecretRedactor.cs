using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentFlow.Models;

namespace AgentFlow.Secrets;

/// <summary>
/// The secret values this process knows (API keys, tokens, passwords in connection URLs) and the one place text is
/// scrubbed of them before it enters a run record, a log line or the console: every occurrence of a known value
/// becomes <see cref="Mask"/>, and so does any <c>Bearer</c> credential, known or not. A model server that echoes the
/// request's <c>Authorization</c> header in its error body thus never puts the key in a transcript or a log.
/// </summary>
/// <remarks>
/// Values are added as they become known (the environment at start, the model registry once it is read); adding is
/// thread-safe and <see cref="Redact(string)"/> always sees a consistent set. Values shorter than
/// <see cref="MinimumLength"/> characters are not registered: they would mask ordinary words, and protect nothing.
/// </remarks>
public sealed partial class SecretRedactor
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Mask = "***";

    /// <summary>Shortest value registered as a secret (4 characters).</summary>
    public const int MinimumLength = 4;

    /// <summary>The setting of a registry model that names the environment variable holding its API key.</summary>
    public const string ApiKeySetting = "api_key_env";

    /// <summary>The <see cref="ApiKeySetting"/> value meaning "send no key".</summary>
    public const string NoApiKey = "none";

    /// <summary>
    /// Environment variables whose whole value is a secret: OpenAI's default key variable, the serve API token and
    /// MLflow's credentials.
    /// </summary>
    public static IReadOnlyList<string> SecretVariables { get; } =
        ["OPENAI_API_KEY", "AGENTFLOW_API_TOKEN", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD"];

    /// <summary>Environment variables holding a connection (URL or <c>host:port,password=…</c>) whose password is a secret.</summary>
    public static IReadOnlyList<string> ConnectionVariables { get; } =
        ["AGENTFLOW_RABBITMQ", "AGENTFLOW_REDIS", "MLFLOW_TRACKING_URI"];

    private readonly Lock _gate = new();

    // Longest first, so a secret containing another one is masked whole. Replaced, never mutated: readers need no lock.
    private volatile string[] _values = [];

    /// <summary>Creates a redactor knowing the secrets of <paramref name="environment"/> (see <see cref="AddEnvironment"/>).</summary>
    public static SecretRedactor FromEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        var redactor = new SecretRedactor();
        redactor.AddEnvironment(environment);
        return redactor;
    }

    /// <summary>How many values are registered.</summary>
    public int Count => _values.Length;

    /// <summary>Registers <paramref name="value"/> (and its URL- and JSON-escaped forms) as a secret; blank or short values are ignored.</summary>
    public void Add(string? value)
    {
        var trimmed = value?.Trim();
        if (trimmed is null || trimmed.Length < MinimumLength)
        {
            return;
        }

        string[] forms = [trimmed, Uri.EscapeDataString(trimmed), JsonEncodedText.Encode(trimmed).Value];
        lock (_gate)
        {
            var known = new HashSet<string>(_values, StringComparer.Ordinal);
            if (forms.All(known.Contains))
            {
                return;
            }

            known.UnionWith(forms);
            _values = [.. known.OrderByDescending(v => v.Length).ThenBy(v => v, StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// Registers the password of a connection: <c>scheme://user:password@host…</c> (RabbitMQ, Redis, MLflow URIs) or a
    /// StackExchange.Redis configuration <c>host:port,password=…</c>.
    /// </summary>
    public void AddConnectionPassword(string? connection)
    {
        if (string.IsNullOrWhiteSpace(connection))
        {
            return;
        }

        if (Uri.TryCreate(connection.Trim(), UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                var password = uri.UserInfo[(colon + 1)..];
                Add(password);
                Add(Uri.UnescapeDataString(password));
            }
            else
            {
                // redis://token@host: a lone user-info part is the password.
                Add(Uri.UnescapeDataString(uri.UserInfo));
            }
        }

        foreach (var part in connection.Split(','))
        {
            var pair = part.Trim();
            if (pair.StartsWith("password=", StringComparison.OrdinalIgnoreCase))
            {
                Add(pair["password=".Length..]);
            }
        }
    }

    /// <summary>
    /// Registers the secrets of <paramref name="environment"/>: the values of <see cref="SecretVariables"/> and the
    /// passwords in <see cref="ConnectionVariables"/>.
    /// </summary>
    public void AddEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        foreach (var name in SecretVariables)
        {
            Add(environment.GetValueOrDefault(name));
        }

        foreach (var name in ConnectionVariables)
        {
            AddConnectionPassword(environment.GetValueOrDefault(name));
        }

        // MLflow's Basic credentials travel as base64(user:password), which a server may echo as well.
        if (environment.GetValueOrDefault("MLFLOW_TRACKING_USERNAME") is { Length: > 0 } user
            && environment.GetValueOrDefault("MLFLOW_TRACKING_PASSWORD") is { Length: > 0 } password)
        {
            Add(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        }
    }

    /// <summary>
    /// Registers the secrets a model registry points at: the value of every variable a model's <c>api_key_env</c>
    /// names, and the passwords of its <c>rabbitmq:</c> and <c>memory: { connection }</c>.
    /// </summary>
    public void AddRegistry(ModelRegistry registry, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(environment);
        foreach (var spec in registry.Models.Values)
        {
            // 'none' means "send no key" (a server without authentication), not a variable name.
            if (spec.GetString(ApiKeySetting)?.Trim() is { Length: > 0 } variable
                && !string.Equals(variable, NoApiKey, StringComparison.OrdinalIgnoreCase)
                && environment.TryGetValue(variable, out var key))
            {
                Add(key);
            }
        }

        AddConnectionPassword(registry.RabbitMqUri);
        AddConnectionPassword(registry.MemoryConnection);
    }

    /// <summary>
    /// <paramref name="text"/> with every known secret and every <c>Bearer</c> credential replaced by <see cref="Mask"/>;
    /// null stays null.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public string? Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }

        foreach (var value in _values)
        {
            text = text.Replace(value, Mask, StringComparison.Ordinal);
        }

        return BearerCredential().Replace(text, "${scheme}" + Mask);
    }

    /// <summary>Whether <paramref name="text"/> contains a known secret (what <see cref="Redact(string)"/> would mask, Bearer patterns aside).</summary>
    public bool Contains(string? text) =>
        !string.IsNullOrEmpty(text) && _values.Any(v => text.Contains(v, StringComparison.Ordinal));

    // "Bearer <token>" (RFC 6750 token68 characters); the mask itself is left alone.
    [GeneratedRegex(@"(?<scheme>\bBearer\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]+=*", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex BearerCredential();
}
