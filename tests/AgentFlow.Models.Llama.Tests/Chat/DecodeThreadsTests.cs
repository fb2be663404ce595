using AgentFlow.Models.Llama.Chat;

namespace AgentFlow.Models.Llama.Tests.Chat;

public sealed class DecodeThreadsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Run_OneAfterAnother_ReusesOneThreadOfItsOwn()
    {
        using var threads = new DecodeThreads("m");
        var ran = new List<(int Id, bool Pool)>();

        for (var i = 0; i < 5; i++)
        {
            await threads.Run(() => ran.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread))).WaitAsync(Patience);
        }

        Assert.Equal(1, threads.Started);
        Assert.Single(ran.Select(r => r.Id).Distinct());
        Assert.DoesNotContain(ran, r => r.Pool);
    }

    [Fact]
    public async Task Run_WhileAnotherRuns_GetsASecondThreadInsteadOfWaiting()
    {
        using var threads = new DecodeThreads("m");
        using var release = new ManualResetEventSlim();
        var first = threads.Run(() => release.Wait(Patience));

        // The first never ends unless released: the second must not queue behind it.
        await threads.Run(() => { }).WaitAsync(Patience);
        release.Set();
        await first.WaitAsync(Patience);

        Assert.Equal(2, threads.Started);
    }

    [Fact]
    public async Task Run_WorkThrows_TaskFaultsWithItAndTheThreadGoesOn()
    {
        using var threads = new DecodeThreads("m");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => threads.Run(() => throw new InvalidOperationException("boom")).WaitAsync(Patience));
        var after = false;
        await threads.Run(() => after = true).WaitAsync(Patience);

        Assert.Equal("boom", error.Message);
        Assert.True(after);
        Assert.Equal(1, threads.Started);
    }
}
