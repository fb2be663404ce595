using System.Text.RegularExpressions;

namespace AgentFlow.Tracking.MLflow;

/// <summary>MLflow's limits, as in <c>mlflow/utils/validation.py</c>.</summary>
public static class MlflowLimits
{
    /// <summary>Longest metric, param or tag key.</summary>
    public const int MaxKeyLength = 250;

    /// <summary>Longest param value.</summary>
    public const int MaxParamValueLength = 6000;

    /// <summary>Longest run tag value.</summary>
    public const int MaxTagValueLength = 8000;

    /// <summary>Longest experiment name.</summary>
    public const int MaxExperimentNameLength = 500;

    /// <summary>Most metrics in one <c>log-batch</c> request.</summary>
    public const int MaxMetricsPerBatch = 1000;

    /// <summary>Most params in one <c>log-batch</c> request.</summary>
    public const int MaxParamsPerBatch = 100;

    /// <summary>Most tags in one <c>log-batch</c> request.</summary>
    public const int MaxTagsPerBatch = 100;

    /// <summary>Most metrics, params and tags together in one <c>log-batch</c> request.</summary>
    public const int MaxEntitiesPerBatch = 1000;

    /// <summary>Largest <c>log-batch</c> request body in bytes (MLflow's <c>MAX_BATCH_LOG_REQUEST_SIZE</c> = 1e6).</summary>
    public const int MaxBatchRequestBytes = 1_000_000;

    /// <summary>Largest page of a run search.</summary>
    public const int MaxSearchResults = 50_000;
}

/// <summary>
/// Checks keys, values and names against MLflow's rules before anything is sent or written, so a bad key fails
/// with a clear <see cref="MlflowValidationException"/> instead of a server error (or silent truncation) later.
/// </summary>
public static partial class MlflowValidation
{
    /// <summary>Checks a metric: key rules, finite-or-special double, timestamp ≥ 0.</summary>
    public static void ValidateMetric(MlflowMetric metric)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ValidateKey("Metric", metric.Key);
        if (metric.Timestamp < 0)
        {
            throw new MlflowValidationException(
                $"Metric '{metric.Key}' has timestamp {metric.Timestamp}; it must be a nonnegative long (Unix milliseconds).");
        }
    }

    /// <summary>Checks a param: key rules and value ≤ 6000 characters.</summary>
    public static void ValidateParam(MlflowParam param)
    {
        ArgumentNullException.ThrowIfNull(param);
        ValidateKey("Param", param.Key);
        ValidateValue("Param", param.Key, param.Value, MlflowLimits.MaxParamValueLength);
    }

    /// <summary>Checks a run tag: key rules and value ≤ 8000 characters.</summary>
    public static void ValidateTag(MlflowTag tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        ValidateKey("Tag", tag.Key);
        ValidateValue("Tag", tag.Key, tag.Value, MlflowLimits.MaxTagValueLength);
    }

    /// <summary>Checks a batch: every entry, and no param key twice.</summary>
    public static void ValidateBatch(IReadOnlyList<MlflowMetric> metrics, IReadOnlyList<MlflowParam> parameters, IReadOnlyList<MlflowTag> tags)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(tags);
        foreach (var metric in metrics)
        {
            ValidateMetric(metric);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var duplicates = new List<string>();
        foreach (var param in parameters)
        {
            ValidateParam(param);
            if (!seen.Add(param.Key))
            {
                duplicates.Add(param.Key);
            }
        }

        if (duplicates.Count > 0)
        {
            throw new MlflowValidationException(
                $"Duplicate parameter keys in one batch: {string.Join(", ", duplicates.Distinct(StringComparer.Ordinal))}. " +
                "A param can be logged once per run.");
        }

        foreach (var tag in tags)
        {
            ValidateTag(tag);
        }
    }

    /// <summary>Checks an experiment name: not empty, ≤ 500 characters.</summary>
    public static void ValidateExperimentName(string name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new MlflowValidationException("An experiment name must not be empty.");
        }

        if (name.Length > MlflowLimits.MaxExperimentNameLength)
        {
            throw new MlflowValidationException(
                $"Experiment name '{Preview(name)}' has {name.Length} characters; MLflow allows at most {MlflowLimits.MaxExperimentNameLength}.");
        }
    }

    /// <summary>Checks a run id: <c>^[a-zA-Z0-9][\w\-]{0,255}$</c>.</summary>
    public static void ValidateRunId(string runId)
    {
        if (string.IsNullOrEmpty(runId) || !RunIdRegex().IsMatch(runId))
        {
            throw new MlflowValidationException($"Invalid run id '{Preview(runId ?? string.Empty)}'.");
        }
    }

    /// <summary>
    /// Checks a relative artifact path: '/'-separated, not empty, not absolute, no '..', '.', empty or backslash segments.
    /// Returns it without a trailing '/'.
    /// </summary>
    public static string ValidateArtifactPath(string path, bool allowEmpty = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        var trimmed = path.TrimEnd('/');
        if (trimmed.Length == 0)
        {
            if (allowEmpty)
            {
                return string.Empty;
            }

            throw new MlflowValidationException("An artifact path must not be empty.");
        }

        if (trimmed.StartsWith('/') || trimmed.Contains('\\', StringComparison.Ordinal) || trimmed.Contains(':', StringComparison.Ordinal))
        {
            throw new MlflowValidationException(
                $"Invalid artifact path '{Preview(path)}': it must be relative and '/'-separated, without '\\' or ':'.");
        }

        foreach (var segment in trimmed.Split('/'))
        {
            if (segment.Length == 0 || segment == "." || segment == "..")
            {
                throw new MlflowValidationException(
                    $"Invalid artifact path '{Preview(path)}': empty, '.' and '..' segments are not allowed.");
            }
        }

        return trimmed;
    }

    /// <summary>Checks a metric, param or tag key: ≤ 250 characters, <c>^[/\w.\- :]*$</c>, and a normalized path.</summary>
    public static void ValidateKey(string kind, string key)
    {
        if (key is null)
        {
            throw new MlflowValidationException($"{kind} key must not be null. A key name must be provided.");
        }

        if (key.Length > MlflowLimits.MaxKeyLength)
        {
            throw new MlflowValidationException(
                $"{kind} key '{Preview(key)}' has {key.Length} characters; MLflow allows at most {MlflowLimits.MaxKeyLength}.");
        }

        if (!KeyRegex().IsMatch(key))
        {
            throw new MlflowValidationException(
                $"Invalid {kind.ToLowerInvariant()} key '{Preview(key)}'. Names may only contain alphanumerics, underscores (_), " +
                "dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
        }

        var normalized = PosixNormPath(key);
        if (!string.Equals(normalized, key, StringComparison.Ordinal) || normalized == "." ||
            normalized.StartsWith("..", StringComparison.Ordinal) || normalized.StartsWith('/'))
        {
            throw new MlflowValidationException(
                $"Invalid {kind.ToLowerInvariant()} key '{Preview(key)}'. Names may be treated as files in certain cases, and must " +
                $"not resolve to other names when treated as such. This name would resolve to '{normalized}'.");
        }
    }

    private static void ValidateValue(string kind, string key, string value, int limit)
    {
        if (value is null)
        {
            throw new MlflowValidationException($"{kind} '{key}' has no value.");
        }

        if (value.Length > limit)
        {
            throw new MlflowValidationException(
                $"{kind} '{key}' has a value of {value.Length} characters; MLflow allows at most {limit} " +
                "(longer text belongs in an artifact).");
        }
    }

    /// <summary>Python's <c>posixpath.normpath</c>.</summary>
    internal static string PosixNormPath(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }

        var leadingSlashes = path.StartsWith('/') ? (path.StartsWith("//", StringComparison.Ordinal) && !path.StartsWith("///", StringComparison.Ordinal) ? 2 : 1) : 0;
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part != ".." || (leadingSlashes == 0 && parts.Count == 0) || (parts.Count > 0 && parts[^1] == ".."))
            {
                parts.Add(part);
            }
            else if (parts.Count > 0)
            {
                parts.RemoveAt(parts.Count - 1);
            }
        }

        var result = new string('/', leadingSlashes) + string.Join('/', parts);
        return result.Length == 0 ? "." : result;
    }

    private static string Preview(string value) => value.Length <= 100 ? value : string.Concat(value.AsSpan(0, 100), "…");

    [GeneratedRegex(@"^[/\w.\- :]*$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9][\w\-]{0,255}$", RegexOptions.CultureInvariant)]
    private static partial Regex RunIdRegex();
}
