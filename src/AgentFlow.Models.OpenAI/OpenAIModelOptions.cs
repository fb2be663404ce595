using System.Globalization;
using System.Text.RegularExpressions;

namespace AgentFlow.Models.OpenAI;

/// <summary>
/// Settings of a <c>provider: openai</c> model (any server speaking the OpenAI chat completions API: OpenAI, vLLM,
/// TensorRT-LLM, Ollama, llama.cpp's server), built from a <see cref="ModelSpec"/>:
/// <c>endpoint</c> (<see cref="DefaultEndpoint"/>), <c>model</c> (required), <c>api_key_env</c>
/// (<see cref="DefaultApiKeyVariable"/>; <c>none</c> for servers without authentication), <c>timeout</c>
/// (<see cref="DefaultTimeoutSeconds"/> seconds), <c>organization</c> (none) and <c>max_tokens_field</c>
/// (<c>auto</c>: <c>max_completion_tokens</c> for OpenAI and Azure OpenAI, <c>max_tokens</c> for every other server).
/// </summary>
/// <remarks>
/// The options hold the <em>name</em> of the variable with the API key, never the key itself, so they are safe to
/// print or log. The key is read from the environment only when a client is built.
/// </remarks>
public sealed partial record OpenAIModelOptions
{
    /// <summary>Default base URL: OpenAI's public API.</summary>
    public const string DefaultEndpoint = "https://api.openai.com/v1";

    /// <summary>Default name of the environment variable holding the API key.</summary>
    public const string DefaultApiKeyVariable = "OPENAI_API_KEY";

    /// <summary>The <c>api_key_env</c> value meaning "send no key" (local servers such as vLLM or Ollama).</summary>
    public const string NoApiKey = "none";

    /// <summary>Default time allowed for one HTTP attempt, in seconds.</summary>
    public const int DefaultTimeoutSeconds = 100;

    /// <summary>Largest accepted <c>timeout</c>, in seconds (one hour).</summary>
    public const int MaxTimeoutSeconds = 3600;

    /// <summary>The settings an <c>openai</c> model accepts.</summary>
    public static IReadOnlyList<string> AllowedSettings { get; } = ["endpoint", "model", "api_key_env", "timeout", "organization", "max_tokens_field"];

    private static readonly string[] SecretWords = ["key", "secret", "password", "bearer", "auth"];

    /// <summary>Base URL of the API, without a trailing slash (default <see cref="DefaultEndpoint"/>); requests go to <c>{endpoint}/chat/completions</c>.</summary>
    public Uri Endpoint { get; init; } = new(DefaultEndpoint);

    /// <summary>The model id the server knows (e.g. <c>gpt-4o-mini</c>, or the name vLLM serves); required.</summary>
    public required string Model { get; init; }

    /// <summary>
    /// Name of the environment variable holding the API key (default <see cref="DefaultApiKeyVariable"/>);
    /// null when the server needs no key (<c>api_key_env: none</c>).
    /// </summary>
    public string? ApiKeyVariable { get; init; } = DefaultApiKeyVariable;

    /// <summary>Time allowed for one HTTP attempt (default <see cref="DefaultTimeoutSeconds"/> seconds).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(DefaultTimeoutSeconds);

    /// <summary>Value of the <c>OpenAI-Organization</c> header, or null to send none (default).</summary>
    public string? Organization { get; init; }

    /// <summary>
    /// The request field that carries a step's token limit (default: <see cref="MaxTokensField.MaxCompletionTokens"/>
    /// for <c>api.openai.com</c> and <c>*.openai.azure.com</c>, <see cref="MaxTokensField.MaxTokens"/> elsewhere).
    /// </summary>
    public MaxTokensField MaxTokensField { get; init; } = MaxTokensField.MaxCompletionTokens;

    /// <summary>The endpoint as it is safe to print: scheme, host, port and path only (no user info, query or fragment).</summary>
    public string DisplayEndpoint => Display(Endpoint);

    /// <summary>Reads and validates the settings; returns null and fills <paramref name="problems"/> when they are unusable.</summary>
    /// <remarks>Only settings are checked here; whether the key variable is set is checked by <see cref="OpenAIModelProvider.Check"/>.</remarks>
    public static OpenAIModelOptions? TryCreate(ModelSpec spec, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var list = new List<string>();
        CheckUnknownKeys(spec, list);

        var endpoint = ReadEndpoint(spec, list);
        var model = Trimmed(spec, "model");
        if (model is null)
        {
            list.Add($"{spec.LocationOf("model")}: model '{spec.Name}': setting 'model' is required for provider 'openai'; "
                + "add the model id the server knows, e.g. model: gpt-4o-mini");
        }

        var keyVariable = ReadKeyVariable(spec, list);
        var timeout = ReadTimeout(spec, list);
        var organization = Trimmed(spec, "organization");
        var field = ReadMaxTokensField(spec, endpoint, list);

        problems = list;
        return list.Count == 0
            ? new OpenAIModelOptions
            {
                Endpoint = endpoint,
                Model = model!,
                ApiKeyVariable = keyVariable,
                Timeout = TimeSpan.FromSeconds(timeout),
                Organization = organization,
                MaxTokensField = field,
            }
            : null;
    }

    /// <summary>Reads and validates the settings of <paramref name="spec"/>.</summary>
    /// <exception cref="ModelConfigurationException">A setting is unknown or invalid; the message lists them all.</exception>
    public static OpenAIModelOptions Create(ModelSpec spec) =>
        TryCreate(spec, out var problems) ?? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));

    /// <summary>Whether <paramref name="name"/> has the shape of an environment variable name.</summary>
    internal static bool IsVariableName(string name) => VariableName().IsMatch(name);

    private static string Display(Uri uri) => uri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    private static string? Trimmed(ModelSpec spec, string key)
    {
        var value = spec.GetString(key);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    private static void CheckUnknownKeys(ModelSpec spec, List<string> problems)
    {
        foreach (var (key, setting) in spec.Settings)
        {
            if (AllowedSettings.Contains(key, StringComparer.Ordinal))
            {
                continue;
            }

            // The value is never echoed: an unknown key such as 'api_key' may hold the key itself.
            var secretLike = SecretWords.Any(w => key.Contains(w, StringComparison.OrdinalIgnoreCase))
                || key.Equals("token", StringComparison.OrdinalIgnoreCase)
                || key.EndsWith("_token", StringComparison.OrdinalIgnoreCase);
            var suggestion = Closest(key) ?? (secretLike ? "api_key_env" : null);
            problems.Add($"{setting.Location}: model '{spec.Name}': unknown setting '{key}' for provider '{spec.Provider}'"
                + (suggestion is null ? string.Empty : $" (did you mean '{suggestion}'?)")
                + $"; the allowed settings are {string.Join(", ", AllowedSettings)}"
                + (secretLike ? "; never put the key itself in the registry: export it in an environment variable and name that variable with api_key_env" : string.Empty));
        }
    }

    private static Uri ReadEndpoint(ModelSpec spec, List<string> problems)
    {
        var text = Trimmed(spec, "endpoint");
        if (text is null)
        {
            return new Uri(DefaultEndpoint);
        }

        var where = $"{spec.LocationOf("endpoint")}: model '{spec.Name}'";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            problems.Add($"{where}: setting 'endpoint' must be an absolute http or https URL, got '{text}'; "
                + $"e.g. {DefaultEndpoint} or http://127.0.0.1:8000/v1 for a local vLLM server");
            return new Uri(DefaultEndpoint);
        }

        // Credentials in the URL would be printed with the endpoint; the value is not echoed for the same reason.
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            problems.Add($"{where}: setting 'endpoint' must not contain a user name or password; "
                + "remove them and put the API key in the variable named by 'api_key_env'");
            return new Uri(DefaultEndpoint);
        }

        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            problems.Add($"{where}: setting 'endpoint' must not have a query or fragment, got '{Display(uri)}?…'; "
                + "give the base URL only, e.g. http://127.0.0.1:8000/v1");
            return new Uri(DefaultEndpoint);
        }

        return new Uri(Display(uri));
    }

    private static string? ReadKeyVariable(ModelSpec spec, List<string> problems)
    {
        if (!spec.Settings.ContainsKey("api_key_env"))
        {
            return DefaultApiKeyVariable;
        }

        var text = Trimmed(spec, "api_key_env");
        if (text is null)
        {
            problems.Add($"{spec.LocationOf("api_key_env")}: model '{spec.Name}': setting 'api_key_env' is empty; "
                + $"name the environment variable holding the API key (default {DefaultApiKeyVariable}) or write api_key_env: {NoApiKey} for a server without authentication");
            return null;
        }

        if (string.Equals(text, NoApiKey, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        // The value is not echoed: a value that is no variable name may well be the key itself, pasted by mistake.
        if (!IsVariableName(text) || LooksLikeSecret(text))
        {
            problems.Add($"{spec.LocationOf("api_key_env")}: model '{spec.Name}': setting 'api_key_env' must be the NAME of an environment variable "
                + $"(letters, digits and '_', e.g. {DefaultApiKeyVariable}), not the key itself; export the key in that variable and name it here");
            return null;
        }

        return text;
    }

    /// <summary>The field a server gets the token limit in when <c>max_tokens_field</c> is <c>auto</c> or absent.</summary>
    public static MaxTokensField DefaultMaxTokensField(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var host = endpoint.Host;
        return string.Equals(host, "api.openai.com", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".openai.azure.com", StringComparison.OrdinalIgnoreCase)
            ? MaxTokensField.MaxCompletionTokens
            : MaxTokensField.MaxTokens;
    }

    private static MaxTokensField ReadMaxTokensField(ModelSpec spec, Uri endpoint, List<string> problems)
    {
        var text = Trimmed(spec, "max_tokens_field");
        switch (text)
        {
            case null or "auto":
                return DefaultMaxTokensField(endpoint);
            case "max_tokens":
                return MaxTokensField.MaxTokens;
            case "max_completion_tokens":
                return MaxTokensField.MaxCompletionTokens;
            default:
                problems.Add($"{spec.LocationOf("max_tokens_field")}: model '{spec.Name}': setting 'max_tokens_field' must be auto, max_tokens or max_completion_tokens, "
                    + $"got '{text}'; remove it for auto (max_completion_tokens for OpenAI, max_tokens for other servers)");
                return DefaultMaxTokensField(endpoint);
        }
    }

    private static int ReadTimeout(ModelSpec spec, List<string> problems)
    {
        if (!spec.Settings.TryGetValue("timeout", out var setting))
        {
            return DefaultTimeoutSeconds;
        }

        if (!int.TryParse(setting.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            || seconds < 1 || seconds > MaxTimeoutSeconds)
        {
            problems.Add($"{setting.Location}: model '{spec.Name}': setting 'timeout' must be a whole number of seconds between 1 and {MaxTimeoutSeconds}, "
                + $"got '{setting.Value}'; fix the value or remove the setting (default {DefaultTimeoutSeconds})");
            return DefaultTimeoutSeconds;
        }

        return seconds;
    }

    /// <summary>
    /// A valid variable name that nonetheless looks like a key (long, mixed letters and digits, no '_'), e.g. a
    /// hex token pasted into <c>api_key_env</c>: never echoed.
    /// </summary>
    private static bool LooksLikeSecret(string text) =>
        text.Length >= 24 && !text.Contains('_', StringComparison.Ordinal) && text.Any(char.IsAsciiDigit) && text.Any(char.IsAsciiLetter);

    // Same "did you mean" as every other AgentFlow message.
    private static string? Closest(string key) => AgentFlow.Diagnostics.NameSuggestion.Nearest(key, AllowedSettings);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();
}
