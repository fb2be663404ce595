using AgentFlow.Models;
using AgentFlow.Retrieval.Indexing;
using AgentFlow.Retrieval.Tests.Support;

namespace AgentFlow.Retrieval.Tests.Indexing;

/// <summary>Retrieval quality on the project's own knowledge base (examples/kb) with the real MiniLM model.</summary>
public sealed class KnowledgeBaseQualityTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>, IDisposable
{
    // Questions as customers write them, with the page that answers each; none repeats the page's title.
    private static readonly (string Question, string Page)[] Cases =
    [
        ("My blender arrived broken, can I get my money back?", "refunds.md"),
        ("how many days do I have to ask for a refund", "refunds.md"),
        ("How do I send an item back to you?", "returns.md"),
        ("Can I return earbuds I already opened?", "returns.md"),
        ("When will my package arrive if I order today?", "shipping.md"),
        ("Do you deliver to Norway and do I pay customs?", "international-shipping.md"),
        ("The parcel says delivered but nothing is at my door", "lost-parcels.md"),
        ("I ordered by mistake, can I stop the order?", "cancel-order.md"),
        ("Can I pay with PayPal?", "payment-methods.md"),
        ("Where can I download a receipt with our VAT number?", "invoices.md"),
        ("My laptop stopped working after a year, is it covered?", "warranty.md"),
        ("I saw the same TV cheaper at another shop", "price-match.md"),
        ("Can I use two promo codes on one purchase?", "discount-codes.md"),
        ("I forgot my login password", "account-password.md"),
        ("Please remove all my data and close my profile", "account-deletion.md"),
        ("What are your opening hours for customer service?", "support-hours.md"),
        ("Can I collect my order from a shop near me?", "store-pickup.md"),
        ("How much does it cost to fix my cracked phone screen?", "repairs.md"),
        ("Will you install my new washing machine?", "installation.md"),
        ("I got an email asking for my card number, is it really you?", "security.md"),
    ];

    private readonly TempFolder _work = new();

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task RecallAt3_ProjectKnowledgeBaseWithMiniLm_IsAtLeast90Percent()
    {
        await using var host = minilm.Host(ModelRegistry.Parse("", "agentflow.yaml"), _work.Path);
        var target = await host.OpenAsync("kb", mustExist: false, CancellationToken.None);
        var summary = await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = Path.Combine(Repository.Root, "examples", "kb") }, null, TimeProvider.System, CancellationToken.None);
        Assert.InRange(summary.Files, 20, 40);

        var misses = new List<string>();
        foreach (var (question, page) in Cases)
        {
            var found = await host.RetrieveAsync("kb", question, 3, null, CancellationToken.None);
            if (!found.Any(c => c.Source == page))
            {
                misses.Add($"{question} → {string.Join(", ", found.Select(c => c.Source))} (expected {page})");
            }
        }

        var recall = 1 - ((double)misses.Count / Cases.Length);
        Assert.True(recall >= 0.9, $"recall@3 = {recall:0.00}; misses:\n{string.Join('\n', misses)}");
    }
}
