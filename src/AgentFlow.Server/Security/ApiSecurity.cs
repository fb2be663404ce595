using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace AgentFlow.Server.Security;

/// <summary>
/// The API's security settings and, once Kestrel bound, the addresses it checked. One instance per server; the
/// <see cref="ApiSecurityMiddleware"/> refuses every request until <see cref="Verify"/> accepted the binding.
/// </summary>
internal sealed class ApiSecurity(ServerOptions options)
{
    /// <summary>The environment variable that holds the bearer token.</summary>
    public const string TokenVariable = ServerOptions.TokenVariable;

    /// <summary>Who a request that carried the token is (what an approval made with it records as its decider).</summary>
    public const string TokenCaller = "api-token";

    private readonly TaskCompletionSource<bool> _verified = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private volatile ApiBinding? _binding;

    /// <summary>The bearer token every request must carry, or null (loopback only).</summary>
    public string? Token { get; } = string.IsNullOrEmpty(options.Token) ? null : options.Token;

    /// <summary>The checked binding; null until <see cref="Verify"/> passed.</summary>
    public ApiBinding? Binding => _binding;

    /// <summary>
    /// Checks what Kestrel bound: without a token, every address must be loopback. Only then are requests served.
    /// </summary>
    /// <exception cref="ServerConfigurationException">An address reaches beyond this machine and no token is set.</exception>
    public void Verify(IEnumerable<string> boundAddresses)
    {
        var binding = ApiBinding.From(boundAddresses, options.AllowedOrigins);
        if (Token is null && binding.BeyondLoopback.Count > 0)
        {
            _verified.TrySetResult(false);
            throw new ServerConfigurationException(
                $"serve listens on {string.Join(", ", binding.BeyondLoopback)}, beyond this machine: set {TokenVariable} (clients then send 'Authorization: Bearer <token>'), or listen on 127.0.0.1 only");
        }

        _binding = binding;
        _verified.TrySetResult(true);
    }

    /// <summary>Whether the binding passed <see cref="Verify"/> (false: the server refuses to start), once it ran.</summary>
    public Task<bool> WhenVerifiedAsync(CancellationToken cancellationToken) => _verified.Task.WaitAsync(cancellationToken);

    /// <summary>
    /// Who decides an approval: the authenticated caller when a token is in use (the body cannot claim another
    /// name); without a token (loopback only) the name the body gives, as the CLI's <c>approve --as</c> takes it.
    /// </summary>
    public static string DecidedBy(ClaimsPrincipal user, string? claimed) =>
        user.Identity is { IsAuthenticated: true, Name: { } name } ? name : claimed is { Length: > 0 } ? claimed : "api";
}
