using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Hosting;
using LLama.Exceptions;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>Loading shared by both providers: weights and file hash in parallel, native errors turned into user-facing ones.</summary>
internal static class LlamaModelLoader
{
    public static async Task<(LlamaChatClient Client, string Sha256)> LoadAsync(
        ModelSpec spec,
        string path,
        LlamaChatClientOptions options,
        FileHashCache hashCache,
        ILogger? logger,
        CancellationToken cancellationToken)
    {
        var hashTask = hashCache.GetSha256Async(path, cancellationToken);
        LlamaChatClient client;
        try
        {
            client = await LlamaChatClient.LoadAsync(path, options, logger, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RuntimeError or IOException or UnauthorizedAccessException)
        {
            await ObserveAsync(hashTask).ConfigureAwait(false);
            throw new ModelConfigurationException(
                $"{spec.LocationOf("path")}: model '{spec.Name}': llama.cpp could not load '{path}' ({ex.Message.Trim()}); "
                + "check that it is a complete GGUF file of an architecture this llama.cpp build supports, and that the 'context' setting fits in memory",
                ex);
        }

        try
        {
            return (client, await hashTask.ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            client.Dispose();
            throw new ModelConfigurationException($"{spec.LocationOf("path")}: model '{spec.Name}': cannot read '{path}' to hash it ({ex.Message}); check the file's permissions", ex);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static async Task ObserveAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            // The load error is the one worth reporting.
        }
    }
}
