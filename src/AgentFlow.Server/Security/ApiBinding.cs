using System.Net;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Server.Security;

/// <summary>
/// What the server actually listens on, read from Kestrel after it bound (never from the <c>--urls</c> text, which
/// Kestrel splits on ';' and which <c>Kestrel__Endpoints__*</c> settings override): whether any address reaches beyond
/// this machine, and which <c>Host</c> headers and <c>Origin</c>s name this server.
/// </summary>
internal sealed class ApiBinding
{
    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    private ApiBinding(IReadOnlyList<string> addresses, IReadOnlyList<string> beyondLoopback, IReadOnlySet<string> hosts, bool anyHost, IReadOnlySet<string> origins)
    {
        Addresses = addresses;
        BeyondLoopback = beyondLoopback;
        Hosts = hosts;
        AnyHost = anyHost;
        Origins = origins;
    }

    /// <summary>Every address Kestrel bound.</summary>
    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The bound addresses another machine can reach (anything not provably loopback counts).</summary>
    public IReadOnlyList<string> BeyondLoopback { get; }

    /// <summary>The <c>Host</c> header values (<c>name:port</c>, lower case) that name this server.</summary>
    public IReadOnlySet<string> Hosts { get; }

    /// <summary>Whether a wildcard address (0.0.0.0, [::], *) is bound: then any host name may reach it (a token is required).</summary>
    public bool AnyHost { get; }

    /// <summary>The origins (<c>scheme://name:port</c>) whose pages may call the API: the bound ones and the configured extras.</summary>
    public IReadOnlySet<string> Origins { get; }

    /// <summary>Reads the bound <paramref name="addresses"/> and adds <paramref name="extraOrigins"/> (a trusted front end or proxy).</summary>
    public static ApiBinding From(IEnumerable<string> addresses, IEnumerable<Uri> extraOrigins)
    {
        var all = addresses.ToList();
        var beyond = new List<string>();
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var origins = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var anyHost = false;
        foreach (var address in all)
        {
            BindingAddress bound;
            try
            {
                bound = BindingAddress.Parse(address);
            }
            catch (FormatException)
            {
                beyond.Add(address);
                continue;
            }

            if (bound.IsUnixPipe || bound.IsNamedPipe)
            {
                // A socket file's reach depends on its permissions, not on an address: treat it as reachable.
                beyond.Add(address);
                continue;
            }

            var host = bound.Host.Trim('[', ']');
            if (host is "0.0.0.0" or "::" or "*" or "+")
            {
                anyHost = true;
                beyond.Add(address);
                continue;
            }

            var loopback = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
            if (!loopback)
            {
                beyond.Add(address);
            }

            foreach (var name in loopback ? LoopbackNames : [bound.Host])
            {
                Add(hosts, origins, bound.Scheme, name, bound.Port);
            }
        }

        foreach (var origin in extraOrigins)
        {
            Add(hosts, origins, origin.Scheme, origin.Host, origin.Port);
        }

        return new ApiBinding(all, beyond, hosts, anyHost, origins);
    }

    /// <summary>Whether <paramref name="host"/> (a request's <c>Host</c> header) names this server.</summary>
    public bool AcceptsHost(HostString host) => AnyHost || (host.HasValue && Hosts.Contains(host.Value));

    /// <summary>Whether a page of <paramref name="origin"/> may call the API on <paramref name="request"/>'s own host.</summary>
    public bool AcceptsOrigin(string origin, HttpRequest request) =>
        Origins.Contains(origin) || (AnyHost && string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase));

    private static void Add(HashSet<string> hosts, HashSet<string> origins, string scheme, string name, int port)
    {
        var isDefault = port == (scheme == "https" ? 443 : 80);
        hosts.Add($"{name}:{port}");
        origins.Add($"{scheme}://{name}:{port}");
        if (isDefault)
        {
            // Browsers and clients leave the default port out of Host and Origin.
            hosts.Add(name);
            origins.Add($"{scheme}://{name}");
        }
    }
}
