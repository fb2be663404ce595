namespace AgentFlow.Messaging.Bus;

/// <summary>The parts of a broker URI (password included: never log this object).</summary>
internal sealed record RabbitMqEndpoint(string Host, ushort Port, string VirtualHost, string UserName, string Password, bool UseTls)
{
    public static RabbitMqEndpoint Parse(Uri uri)
    {
        var tls = uri.Scheme == "amqps";
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (ushort)(tls ? 5671 : 5672) : (ushort)uri.Port;
        var path = uri.AbsolutePath.Trim('/');
        var vhost = path.Length == 0 ? "/" : Uri.UnescapeDataString(path);
        var user = "guest";
        var password = "guest";
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : string.Empty;
        }

        return new RabbitMqEndpoint(uri.Host, port, vhost, user, password, tls);
    }
}
