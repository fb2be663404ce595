using AgentFlow.Models;

namespace AgentFlow.Core.Tests.Models;

public sealed class StopSequenceFilterTests
{
    [Fact]
    public void Push_StopSplitAcrossChunks_TextBeforeStopOnly()
    {
        var filter = new StopSequenceFilter(["END"]);

        var emitted = filter.Push("abcE") + filter.Push("N") + filter.Push("Dxyz");

        Assert.Equal("abc", emitted);
        Assert.True(filter.Stopped);
        Assert.Equal("", filter.Flush());
    }

    [Fact]
    public void Push_PartialMatchThenMismatch_HeldTextReleased()
    {
        var filter = new StopSequenceFilter(["END"]);

        Assert.Equal("ab", filter.Push("abEN"));
        Assert.Equal("ENx", filter.Push("x"));
        Assert.False(filter.Stopped);
    }

    [Fact]
    public void Flush_NoStop_ReturnsHeldTail()
    {
        var filter = new StopSequenceFilter(["END", "STOP"]);

        var emitted = filter.Push("hello S") + filter.Flush();

        Assert.Equal("hello S", emitted);
    }

    [Fact]
    public void Push_NoStops_PassesThrough()
    {
        var filter = new StopSequenceFilter(null);

        Assert.Equal("E", filter.Push("E"));
    }

    [Fact]
    public void Push_TwoStops_EarliestWins()
    {
        var filter = new StopSequenceFilter(["zz", "b"]);

        Assert.Equal("a", filter.Push("abzz"));
    }
}
