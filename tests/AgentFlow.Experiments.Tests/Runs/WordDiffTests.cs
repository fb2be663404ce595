using AgentFlow.Experiments.Runs;

namespace AgentFlow.Experiments.Tests.Runs;

public sealed class WordDiffTests
{
    [Theory]
    [InlineData("the cat sat", "the cat sat", "the cat sat")]
    [InlineData("the cat sat", "the dog sat", "the [-cat-] {+dog+} sat")]
    [InlineData("a b c", "a c d", "a [-b-] c {+d+}")]
    [InlineData(null, "new text", "{+new text+}")]
    [InlineData("old", "", "[-old-]")]
    public void Build_TwoTexts_MarksRemovedAndAddedWords(string? before, string? after, string expected)
    {
        Assert.Equal(expected, WordDiff.Build(before, after));
    }
}
