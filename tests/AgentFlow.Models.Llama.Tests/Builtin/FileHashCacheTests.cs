using System.Security.Cryptography;
using AgentFlow.Models.Llama.Hosting;
using AgentFlow.Models.Llama.Tests.Support;

namespace AgentFlow.Models.Llama.Tests.Builtin;

public sealed class FileHashCacheTests
{
    [Fact]
    public async Task GetSha256Async_File_MatchesAndPersistsSidecar()
    {
        using var directory = new TempDirectory();
        var file = directory.File("m.gguf");
        await File.WriteAllBytesAsync(file, [1, 2, 3, 4]);
        var cacheDir = Path.Combine(directory.Path, "cache");

        var hash = await new FileHashCache(cacheDir).GetSha256Async(file, CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(new byte[] { 1, 2, 3, 4 })), hash);
        var entry = Assert.Single(Directory.GetFiles(cacheDir));
        Assert.Contains(hash, await File.ReadAllTextAsync(entry), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetSha256Async_SidecarMatches_NotRecomputed()
    {
        using var directory = new TempDirectory();
        var file = directory.File("m.gguf");
        await File.WriteAllBytesAsync(file, [1, 2, 3, 4]);
        var cacheDir = Path.Combine(directory.Path, "cache");
        await new FileHashCache(cacheDir).GetSha256Async(file, CancellationToken.None);
        var entry = Directory.GetFiles(cacheDir)[0];
        var fake = new string('a', 64);
        var lines = await File.ReadAllLinesAsync(entry);
        lines[4] = fake;
        await File.WriteAllLinesAsync(entry, lines);

        // A new instance (a new process) trusts the sidecar while length and mtime match.
        Assert.Equal(fake, await new FileHashCache(cacheDir).GetSha256Async(file, CancellationToken.None));
    }

    [Fact]
    public async Task GetSha256Async_FileChanged_Recomputed()
    {
        using var directory = new TempDirectory();
        var file = directory.File("m.gguf");
        await File.WriteAllBytesAsync(file, [1, 2, 3, 4]);
        var cache = new FileHashCache(Path.Combine(directory.Path, "cache"));
        var first = await cache.GetSha256Async(file, CancellationToken.None);
        await File.WriteAllBytesAsync(file, [5, 6, 7, 8, 9]);

        var second = await cache.GetSha256Async(file, CancellationToken.None);

        Assert.NotEqual(first, second);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(new byte[] { 5, 6, 7, 8, 9 })), second);
    }
}
