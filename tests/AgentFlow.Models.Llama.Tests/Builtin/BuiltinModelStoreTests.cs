using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Hosting;
using AgentFlow.Models.Llama.Tests.Support;

namespace AgentFlow.Models.Llama.Tests.Builtin;

public sealed class BuiltinModelStoreTests
{
    [Fact]
    public void Root_AgentFlowHomeSet_UsesIt()
    {
        var root = DataDirectories.Root(name => name switch
        {
            "AGENTFLOW_HOME" => "/srv/af",
            "XDG_DATA_HOME" => "/xdg",
            _ => null,
        });

        Assert.Equal("/srv/af", root);
    }

    [Fact]
    public void Root_OnlyXdgSet_UsesAgentflowUnderIt()
    {
        Assert.Equal("/xdg/agentflow", DataDirectories.Root(name => name == "XDG_DATA_HOME" ? "/xdg" : null));
    }

    [Fact]
    public void Root_NothingSet_UsesLocalShare()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

        Assert.Equal(Path.Combine(home, ".local", "share", "agentflow"), DataDirectories.Root(_ => null));
    }

    [Fact]
    public void Ensure_Missing_WritesFileNamedByOptions()
    {
        using var directory = new TempDirectory();
        var store = new BuiltinModelStore(directory.Path);
        var options = new TinyGgufOptions();

        var path = store.Ensure(options);

        Assert.Equal(Path.Combine(directory.Path, options.FileName()), path);
        Assert.Matches("tiny-s1-l2-e64-[0-9a-f]{8}\\.gguf$", path);
        Assert.Equal(TinyGgufWriter.WriteToArray(options), File.ReadAllBytes(path));
    }

    [Fact]
    public void Ensure_Existing_DoesNotRewrite()
    {
        using var directory = new TempDirectory();
        var store = new BuiltinModelStore(directory.Path);
        var path = store.Ensure(new TinyGgufOptions());
        var stamp = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);

        Assert.Equal(path, store.Ensure(new TinyGgufOptions()));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public async Task Ensure_ManyConcurrentWriters_OneCompleteFileNoLeftovers()
    {
        using var directory = new TempDirectory();
        var options = new TinyGgufOptions { Seed = 5 };

        var paths = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => new BuiltinModelStore(directory.Path).Ensure(options))));

        Assert.Single(paths.Distinct());
        Assert.Equal([paths[0]], Directory.GetFiles(directory.Path));
        Assert.Equal(TinyGgufWriter.WriteToArray(options), File.ReadAllBytes(paths[0]));
    }
}
