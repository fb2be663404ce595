namespace AgentFlow.Server;

/// <summary>Where and how <c>agentflow serve</c> listens; checked by <see cref="Validate"/> before the host is built.</summary>
public sealed class ServerOptions
{
    /// <summary>The environment variable that holds the bearer token.</summary>
    public const string TokenVariable = "AGENTFLOW_API_TOKEN";

    /// <summary>Where Kestrel listens, ';'-separated (default <c>http://127.0.0.1:8080</c>; port 0 picks a free one).</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>The folder of the workflows the API may start, by name (required, absolute).</summary>
    public string WorkflowsDirectory { get; set; } = string.Empty;

    /// <summary>The directory the server runs in; never shown in a response (messages name files relative to it).</summary>
    public string WorkingDirectory { get; set; } = string.Empty;

    /// <summary>The bearer token every request must carry; null or empty: none (then loopback addresses only).</summary>
    public string? Token { get; set; }

    /// <summary>Origins (<c>scheme://host:port</c>) besides the bound addresses whose pages may call the API (default none).</summary>
    public IReadOnlyList<Uri> AllowedOrigins { get; set; } = [];

    /// <summary>Time between sweeps for interrupted runs, lapsed leases and due approval timeouts (default 5 s, at least 0.2 s).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest request body accepted (default 256 KiB: runs are started with small JSON documents).</summary>
    public long MaxRequestBytes { get; set; } = 256 * 1024;

    /// <summary>Reports every invalid setting at once.</summary>
    /// <exception cref="ServerConfigurationException">A setting is invalid.</exception>
    public void Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Urls))
        {
            problems.Add("--urls is empty: give at least one address, e.g. http://127.0.0.1:8080");
        }

        if (!Path.IsPathFullyQualified(WorkflowsDirectory))
        {
            problems.Add($"the workflows folder '{WorkflowsDirectory}' must be an absolute path");
        }

        if (!Path.IsPathFullyQualified(WorkingDirectory))
        {
            problems.Add($"the working directory '{WorkingDirectory}' must be an absolute path");
        }

        foreach (var origin in AllowedOrigins)
        {
            if (!origin.IsAbsoluteUri || origin.Scheme is not ("http" or "https") || origin.AbsolutePath != "/" || origin.Query.Length > 0)
            {
                problems.Add($"--allow-origin '{origin}' is not an origin: give scheme://host[:port], e.g. https://agentflow.example.com");
            }
        }

        if (SweepInterval < TimeSpan.FromSeconds(0.2))
        {
            problems.Add($"--sweep {SweepInterval.TotalSeconds} s is too short: at least 0.2 s");
        }

        if (MaxRequestBytes <= 0)
        {
            problems.Add("the request body limit must be positive");
        }

        if (problems.Count > 0)
        {
            throw new ServerConfigurationException(string.Join("; ", problems));
        }
    }
}

/// <summary>The server cannot start as configured; the message says what to change.</summary>
public sealed class ServerConfigurationException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public ServerConfigurationException(string message) : base(message) { }
}
