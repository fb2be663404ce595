using System.Globalization;

namespace AgentFlow.Messaging.Bus;

/// <summary>Which message transport carries agent steps.</summary>
public enum MessagingTransport
{
    /// <summary>Inside one process (the default): the workers for the local models run in the orchestrator's process.</summary>
    InMemory,

    /// <summary>Through a RabbitMQ broker: workers are separate processes, possibly on other machines.</summary>
    RabbitMq,
}

/// <summary>
/// How the orchestrator and workers reach each other. Defaults: in-memory transport, 120 s per model call, worker
/// presence re-checked every 2 s while waiting, 30 s to start the bus. Checked by <see cref="Validate"/> when the bus
/// is added.
/// </summary>
public sealed class MessagingOptions
{
    /// <summary>Environment variable holding the broker URI (<c>amqp://user:pass@host:5672/vhost</c>); setting it selects RabbitMQ.</summary>
    public const string RabbitMqVariable = "AGENTFLOW_RABBITMQ";

    /// <summary>The transport. Default: <see cref="MessagingTransport.InMemory"/>.</summary>
    public MessagingTransport Transport { get; set; } = MessagingTransport.InMemory;

    /// <summary>
    /// The broker, required for <see cref="MessagingTransport.RabbitMq"/>: <c>amqp://user:pass@host:5672/vhost</c>
    /// (<c>amqps://</c> for TLS; user and password default to guest, the port to 5672 (5671 for amqps), the vhost to <c>/</c>).
    /// The password is never logged: see <see cref="RedactedRabbitMqUri"/>.
    /// </summary>
    public Uri? RabbitMqUri { get; set; }

    /// <summary>How long one model call may take, queueing included, before it fails. Default 120 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// While a call waits, how often the orchestrator checks that some worker still consumes the model's queue (it
    /// fails with "no worker serves model" when none does). Default 2 s. Checked once before every send as well.
    /// </summary>
    public TimeSpan WorkerCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Most time the bus may take to connect and start. Default 30 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary><see cref="RabbitMqUri"/> with the password replaced by <c>***</c>; safe to log.</summary>
    public string? RedactedRabbitMqUri => RabbitMqUri is null ? null : Redact(RabbitMqUri);

    /// <summary>
    /// Options from the environment: RabbitMQ at <c>AGENTFLOW_RABBITMQ</c> when that variable is set and not empty,
    /// otherwise in-memory.
    /// </summary>
    /// <param name="environment">The variables to read; null reads the process environment.</param>
    /// <exception cref="MessagingConfigurationException">The variable is not a valid URI.</exception>
    public static MessagingOptions FromEnvironment(IReadOnlyDictionary<string, string>? environment = null)
    {
        var value = environment is null
            ? Environment.GetEnvironmentVariable(RabbitMqVariable)
            : environment.GetValueOrDefault(RabbitMqVariable);
        if (string.IsNullOrWhiteSpace(value))
        {
            return new MessagingOptions();
        }

        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri))
        {
            // Not echoing the value: it may hold a password.
            throw new MessagingConfigurationException($"{RabbitMqVariable} is not a valid URI; expected amqp://user:pass@host:5672/");
        }

        return new MessagingOptions { Transport = MessagingTransport.RabbitMq, RabbitMqUri = uri };
    }

    /// <summary>Every problem with these options; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!Enum.IsDefined(Transport))
        {
            problems.Add($"messaging: unknown transport '{Transport}' (use InMemory or RabbitMq)");
        }

        if (Transport == MessagingTransport.RabbitMq)
        {
            if (RabbitMqUri is null)
            {
                problems.Add($"messaging: the RabbitMQ transport needs a broker URI; set {RabbitMqVariable}=amqp://user:pass@host:5672/");
            }
            else if (!RabbitMqUri.IsAbsoluteUri || RabbitMqUri.Scheme is not ("amqp" or "amqps") || string.IsNullOrEmpty(RabbitMqUri.Host))
            {
                problems.Add($"messaging: broker URI '{Redact(RabbitMqUri)}' must look like amqp://user:pass@host:5672/ (or amqps://)");
            }
        }

        CheckPositive(problems, nameof(RequestTimeout), RequestTimeout);
        CheckPositive(problems, nameof(WorkerCheckInterval), WorkerCheckInterval);
        CheckPositive(problems, nameof(StartTimeout), StartTimeout);
        return problems;
    }

    /// <summary>Throws when <see cref="Validate"/> finds problems.</summary>
    /// <exception cref="MessagingConfigurationException">Lists every problem.</exception>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new MessagingConfigurationException(string.Join(Environment.NewLine, problems));
        }
    }

    internal static void CheckPositive(List<string> problems, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"messaging: {name} must be between 0 and 1 day (is {value})"));
        }
    }

    internal static string Redact(Uri uri)
    {
        if (!uri.IsAbsoluteUri || string.IsNullOrEmpty(uri.UserInfo))
        {
            return uri.ToString();
        }

        var user = uri.UserInfo.Split(':', 2)[0];
        var builder = new UriBuilder(uri) { UserName = user, Password = uri.UserInfo.Contains(':', StringComparison.Ordinal) ? "***" : string.Empty };
        return builder.Uri.ToString();
    }
}
