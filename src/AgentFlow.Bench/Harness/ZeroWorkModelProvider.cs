using AgentFlow.Models;

namespace AgentFlow.Bench.Harness;

/// <summary>
/// <c>provider: bench-zero</c>: hands out one <see cref="ZeroWorkChatClient"/>. Only the benchmark registers it (see
/// <see cref="BenchModels"/>); the product's hosts never list it.
/// </summary>
public sealed class ZeroWorkModelProvider : IModelProvider
{
    /// <summary>The provider name.</summary>
    public const string ProviderName = "bench-zero";

    /// <summary>The one client every load returns (shared, so a plain loop and a workflow call the same instance; disposing it does nothing).</summary>
    public ZeroWorkChatClient Client { get; } = new();

    /// <inheritdoc />
    public string Name => ProviderName;

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec) => [];

    /// <inheritdoc />
    public Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Task.FromResult(new LoadedModel(spec, Client, "zero-work benchmark client (answers at once)"));
    }
}
