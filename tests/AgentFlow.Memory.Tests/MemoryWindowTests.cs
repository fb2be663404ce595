namespace AgentFlow.Memory.Tests;

public sealed class MemoryWindowTests
{
    private static List<ConversationMessage> Conversation(params string[][] turns)
    {
        var messages = new List<ConversationMessage>();
        foreach (var turn in turns)
        {
            var turnId = Guid.NewGuid().ToString("N");
            foreach (var (content, index) in turn.Select((c, i) => (c, i)))
            {
                messages.Add(new ConversationMessage
                {
                    Role = index == 0 ? ConversationRole.User : ConversationRole.Assistant,
                    Content = content,
                    Timestamp = DateTimeOffset.UnixEpoch,
                    TurnId = turnId,
                    Sequence = messages.Count + 1,
                });
            }
        }

        return messages;
    }

    private static int Length(string text) => text.Length;

    [Fact]
    public void LastMessages_LimitAboveSize_KeepsEverything()
    {
        var messages = Conversation(["q1", "a1"], ["q2", "a2"]);

        Assert.Equal(messages, MemoryWindow.LastMessages(messages, 10));
    }

    [Fact]
    public void LastMessages_OddLimit_KeepsWholeTurnsOnly()
    {
        var messages = Conversation(["q1", "a1"], ["q2", "a2"], ["q3", "a3"]);

        Assert.Equal(["q2", "a2", "q3", "a3"], MemoryWindow.LastMessages(messages, 5).Select(m => m.Content));
        Assert.Empty(MemoryWindow.LastMessages(messages, 1));
    }

    [Fact]
    public void LastTokens_OldTurnTooBig_StopsThereEvenIfOlderOnesWouldFit()
    {
        var messages = Conversation(["q", "a"], ["long question", "long answer"], ["q3", "a3"]);

        Assert.Equal(["q3", "a3"], MemoryWindow.LastTokens(messages, 10, Length).Select(m => m.Content));
    }

    [Fact]
    public void LastTokens_PerMessageOverhead_CountsEveryMessage()
    {
        var messages = Conversation(["ab", "cd"], ["ef", "gh"]);

        Assert.Equal(4, MemoryWindow.LastTokens(messages, 8, Length).Count);
        Assert.Equal(2, MemoryWindow.LastTokens(messages, 8, Length, tokensPerMessage: 1).Count);
    }

    [Fact]
    public void LastTokens_NegativeCount_Throws()
    {
        var messages = Conversation(["q", "a"]);

        Assert.Throws<InvalidOperationException>(() => MemoryWindow.LastTokens(messages, 10, _ => -1));
    }

    [Fact]
    public void Windows_InvalidLimits_Throw()
    {
        var messages = Conversation(["q", "a"]);

        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryWindow.LastMessages(messages, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryWindow.LastTokens(messages, 0, Length));
        Assert.Throws<ArgumentNullException>(() => MemoryWindow.LastTokens(messages, 1, null!));
    }

    [Fact]
    public void Turns_ConsecutiveMessagesOfOneTurn_AreGrouped()
    {
        var messages = Conversation(["q1", "a1"], ["q2", "a2"], ["q3"]);

        var turns = MemoryWindow.Turns(messages);

        Assert.Equal([2, 2, 1], turns.Select(t => t.Count));
    }
}
