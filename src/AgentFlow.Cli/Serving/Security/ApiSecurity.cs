using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Cli.Security;

/// <summary>
/// The API's security settings and, once Kestrel bound, the addresses it checked. One instance per server; the
/// <see cref="ApiSecurityMiddleware"/> refuses every request until <see cref="Verify"/> accepted the binding.
/// </summary>
internal sealed class ApiSecurity(string? token, IReadOnlyList<Uri> extraOrigins)
{
    /// <summary>The environment variable that holds the bearer token.</summary>
    public const string TokenVariable = "AGENTFLOW_API_TOKEN";

    /// <summary>Who a request that carried the token is (what an approval made with it records as its decider).</summary>
    public const string TokenCaller = "api-token";

    private volatile ApiBinding? _binding;

    /// <summary>The bearer token every request must carry, or null (loopback only).</summary>
    public string? Token { get; } = string.IsNullOrEmpty(token) ? null : token;

    /// <summary>The checked binding; null until <see cref="Verify"/> passed.</summary>
    public ApiBinding? Binding => _binding;

    /// <summary>
    /// Checks what Kestrel bound: without a token, every address must be loopback. Only then are requests served.
    /// </summary>
    /// <exception cref="ServeConfigurationException">An address reaches beyond this machine and no token is set.</exception>
    public void Verify(IEnumerable<string> boundAddresses)
    {
        var binding = ApiBinding.From(boundAddresses, extraOrigins);
        if (Token is null && binding.BeyondLoopback.Count > 0)
        {
            throw new ServeConfigurationException(
                $"serve listens on {string.Join(", ", binding.BeyondLoopback)}, beyond this machine: set {TokenVariable} (clients then send 'Authorization: Bearer <token>'), or listen on 127.0.0.1 only");
        }

        _binding = binding;
    }

    /// <summary>
    /// Who decides an approval: the authenticated caller when a token is in use (the body cannot claim another
    /// name); without a token (loopback only) the name the body gives, as the CLI's <c>approve --as</c> takes it.
    /// </summary>
    public static string DecidedBy(ClaimsPrincipal user, string? claimed) =>
        user.Identity is { IsAuthenticated: true, Name: { } name } ? name : claimed is { Length: > 0 } ? claimed : "api";
}

/// <summary>The server cannot start as configured (for example: beyond loopback without a token).</summary>
internal sealed class ServeConfigurationException(string message) : AgentFlowException(message);
