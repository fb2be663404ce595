using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace AgentFlow.Memory.Redis;

/// <summary>Turns <see cref="MemoryStoreOptions.Connection"/> into StackExchange.Redis configuration, and describes it without secrets.</summary>
internal static class RedisConnection
{
    /// <summary>
    /// Parses <c>host:port[,option=value…]</c> (StackExchange.Redis format) or <c>redis://[user:password@]host[:port][/db]</c>
    /// (<c>rediss://</c>: TLS), then applies the timeouts and client name of <paramref name="options"/>.
    /// </summary>
    /// <exception cref="MemoryStoreConfigurationException">The connection cannot be parsed or names no endpoint.</exception>
    public static ConfigurationOptions Configure(MemoryStoreOptions options)
    {
        var text = options.Connection?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            throw new MemoryStoreConfigurationException(
                $"memory: the Redis store needs a connection; set {MemoryStoreOptions.RedisVariable}=host:6379 or memory: {{ store: redis, connection: host:6379 }}.");
        }

        ConfigurationOptions configuration;
        try
        {
            configuration = text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase)
                ? FromUri(text)
                : ConfigurationOptions.Parse(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            // Not echoing the connection: it may hold a password.
            throw new MemoryStoreConfigurationException(
                $"memory: the Redis connection is not valid ({e.Message}); expected host:port[,password=…] or redis://[user:password@]host:port[/db].", e);
        }

        if (configuration.EndPoints.Count == 0)
        {
            throw new MemoryStoreConfigurationException("memory: the Redis connection names no server; expected host:port[,password=…].");
        }

        configuration.SetDefaultPorts();
        configuration.AbortOnConnectFail = true; // the initial connection fails at once, naming the server
        configuration.ConnectRetry = 1;
        configuration.ConnectTimeout = Milliseconds(options.ConnectTimeout);
        configuration.SyncTimeout = Milliseconds(options.OperationTimeout);
        configuration.AsyncTimeout = Milliseconds(options.OperationTimeout);
        configuration.ClientName ??= options.ClientName;
        return configuration;
    }

    /// <summary>The servers as <c>host:port</c>, comma-separated: never the password.</summary>
    public static string Describe(ConfigurationOptions configuration) =>
        string.Join(",", configuration.EndPoints.Select(Describe));

    public static string Describe(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"{dns.Host}:{dns.Port}"),
        IPEndPoint ip => ip.ToString(),
        _ => endPoint.ToString() ?? "?",
    };

    /// <summary><paramref name="text"/> with <paramref name="password"/> replaced by <c>***</c>.</summary>
    public static string Scrub(string text, string? password) =>
        string.IsNullOrEmpty(password) ? text : text.Replace(password, "***", StringComparison.Ordinal);

    private static ConfigurationOptions FromUri(string text)
    {
        var uri = new Uri(text, UriKind.Absolute);
        if (string.IsNullOrEmpty(uri.Host))
        {
            throw new UriFormatException("the URI names no host");
        }

        var configuration = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
        configuration.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port <= 0 ? 6379 : uri.Port);
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            var user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            var password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            if (password is null)
            {
                configuration.Password = user; // redis://secret@host: the password alone
            }
            else
            {
                configuration.User = user.Length > 0 ? user : null;
                configuration.Password = password;
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            configuration.DefaultDatabase = int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database)
                ? database
                : throw new UriFormatException($"the database '{path}' in the URI is not a number");
        }

        return configuration;
    }

    private static int Milliseconds(TimeSpan value) => (int)Math.Clamp(value.TotalMilliseconds, 1, int.MaxValue);
}
