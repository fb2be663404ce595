namespace AgentFlow.Models.Constraints;

/// <summary>
/// Keeps one generation inside a grammar, token by token: before each token the engine's logits are masked so only
/// tokens that continue the grammar <b>and</b> still leave room to complete it within the token limit remain; after
/// it, <see cref="Accept"/> moves on. End-of-generation tokens are allowed only where the text is complete, so the
/// output is always a complete text of the grammar (given a vocabulary with a one-byte token for every byte the
/// grammar needs, as byte-fallback vocabularies have). Not thread-safe: one per generation.
/// </summary>
public sealed class TokenConstraint
{
    private readonly ByteAutomaton _automaton;
    private readonly TokenVocabulary _vocabulary;
    private readonly int _maxTokens;
    private readonly Dictionary<int, (int Token, int Remaining)[]> _continuations = [];
    private int _state;
    private int _generated;

    /// <summary>Creates the constraint for a generation of at most <paramref name="maxTokens"/> tokens.</summary>
    /// <exception cref="AgentFlowException">The grammar's shortest text is longer than <paramref name="maxTokens"/>.</exception>
    public TokenConstraint(ByteAutomaton automaton, TokenVocabulary vocabulary, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(automaton);
        ArgumentNullException.ThrowIfNull(vocabulary);
        _automaton = automaton;
        _vocabulary = vocabulary;
        _maxTokens = maxTokens;
        _state = automaton.Start;
        if (automaton.MinimumLength > maxTokens)
        {
            throw new AgentFlowException(
                $"the shortest output the JSON Schema or tool call allows is {automaton.MinimumLength} bytes, and max_tokens ({maxTokens}) must leave room "
                + $"for that many tokens (a constrained answer reserves a token per byte so it always closes in time); raise max_tokens to at least {automaton.MinimumLength}");
        }
    }

    /// <summary>Whether the text so far is complete and nothing may follow it: the generation is over.</summary>
    public bool IsComplete => _automaton.IsAccepting(_state) && !_automaton.HasExits(_state);

    /// <summary>Whether the text so far is a complete text of the grammar.</summary>
    public bool IsAccepting => _automaton.IsAccepting(_state);

    /// <summary>
    /// Sets the logit of every token that may not come next to negative infinity.
    /// </summary>
    /// <param name="logits">One logit per token id (the engine's buffer, changed in place).</param>
    /// <returns>How many tokens remain allowed (at least one).</returns>
    /// <exception cref="AgentFlowException">No token of the vocabulary can continue the grammar.</exception>
    public int Mask(Span<float> logits)
    {
        var allowed = new bool[Math.Min(logits.Length, _vocabulary.Count)];
        var count = 0;
        var budget = _maxTokens - _generated - 1;
        foreach (var (token, remaining) in Continuations())
        {
            if (token < allowed.Length && remaining <= budget)
            {
                allowed[token] = true;
                count++;
            }
        }

        if (_automaton.IsAccepting(_state))
        {
            for (var id = 0; id < allowed.Length; id++)
            {
                if (_vocabulary.IsEnd(id))
                {
                    allowed[id] = true;
                    count++;
                }
            }
        }

        if (count == 0)
        {
            throw new AgentFlowException(
                "the model's vocabulary has no token that continues the constrained output (JSON Schema or tool call) within max_tokens; raise max_tokens or use a model with byte-fallback tokens");
        }

        for (var id = 0; id < logits.Length; id++)
        {
            if (id >= allowed.Length || !allowed[id])
            {
                logits[id] = float.NegativeInfinity;
            }
        }

        return count;
    }

    /// <summary>Whether <paramref name="token"/> may come next.</summary>
    public bool Allows(int token)
    {
        if (_vocabulary.IsEnd(token))
        {
            return _automaton.IsAccepting(_state);
        }

        var budget = _maxTokens - _generated - 1;
        foreach (var (t, remaining) in Continuations())
        {
            if (t == token)
            {
                return remaining <= budget;
            }
        }

        return false;
    }

    /// <summary>Moves past <paramref name="token"/>, which the engine chose from the masked logits.</summary>
    /// <exception cref="InvalidOperationException">The token was not allowed.</exception>
    public void Accept(int token)
    {
        if (!Allows(token))
        {
            throw new InvalidOperationException($"token {token} does not continue the constrained output");
        }

        _generated++;
        if (!_vocabulary.IsEnd(token))
        {
            _state = _automaton.Walk(_state, _vocabulary.Text(token));
        }
    }

    // Every token that continues the grammar from the current state, with the bytes it then still needs.
    private (int Token, int Remaining)[] Continuations()
    {
        if (_continuations.TryGetValue(_state, out var known))
        {
            return known;
        }

        var list = new List<(int, int)>();
        for (var id = 0; id < _vocabulary.Count; id++)
        {
            var text = _vocabulary.Text(id);
            if (text.IsEmpty || _vocabulary.IsEnd(id))
            {
                continue;
            }

            var next = _automaton.Walk(_state, text);
            if (next != ByteAutomaton.Dead)
            {
                list.Add((id, _automaton.MinimumRemaining(next)));
            }
        }

        known = [.. list];
        _continuations[_state] = known;
        return known;
    }
}
