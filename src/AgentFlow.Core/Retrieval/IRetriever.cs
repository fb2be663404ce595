namespace AgentFlow.Retrieval;

/// <summary>
/// Searches collections of embedded chunks for the retrieve step. Core declares it; the retrieval library
/// (embedders, vector stores) implements it, so the workflow engine carries no embedding or database dependency.
/// </summary>
public interface IRetriever
{
    /// <summary>
    /// Problems that would stop a run from searching <paramref name="collections"/> (unknown collection, store
    /// unreachable, embedder unusable); one message per problem, keyed by collection. Empty when all are usable.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> CheckAsync(IReadOnlyCollection<string> collections, CancellationToken cancellationToken);

    /// <summary>The best <paramref name="topK"/> chunks for <paramref name="query"/>, best first, none scoring under <paramref name="minScore"/>.</summary>
    /// <exception cref="AgentFlowException">The collection cannot be searched; the message says why and what to do.</exception>
    Task<IReadOnlyList<RetrievedChunk>> RetrieveAsync(string collection, string query, int topK, double? minScore, CancellationToken cancellationToken);
}

/// <summary>One chunk a search returned.</summary>
/// <param name="Id">The chunk's id in its collection (<c>SOURCE#N</c>).</param>
/// <param name="Text">The chunk's text.</param>
/// <param name="Source">The file it came from, relative to the indexed folder.</param>
/// <param name="Heading">The heading path it sits under (<c>Refunds › Damaged items</c>); null before the first heading.</param>
/// <param name="Score">Cosine similarity to the query (1 is identical).</param>
public sealed record RetrievedChunk(string Id, string Text, string Source, string? Heading, double Score);
