namespace AgentFlow.Models.Constraints;

/// <summary>
/// A <see cref="GrammarNode"/> compiled to a byte automaton: a nondeterministic automaton (bounded repetitions
/// unrolled), walked as a deterministic one built lazily, state by state, as decoding reaches them. Each state knows
/// the fewest bytes that still complete the grammar, which is how a constrained generation closes its output before
/// the token limit instead of being cut off mid-way.
/// </summary>
public sealed class ByteAutomaton
{
    /// <summary>The most automaton states a grammar may unroll to (bounded repetitions multiply).</summary>
    public const int MaxStates = 250_000;

    /// <summary>The state for "no way to go on": the bytes so far leave the grammar.</summary>
    public const int Dead = -1;

    private const int Unknown = -2;

    // The nondeterministic automaton: byte edges, epsilon edges, bytes still needed to reach the end.
    private readonly List<(ByteSet Set, int To)>[] _edges;
    private readonly List<int>[] _epsilon;
    private readonly int[] _distance;
    private readonly int _accept;

    // The deterministic states built so far: their sets of automaton states and their transitions.
    private readonly Dictionary<int[], int> _states = new(IntArrayComparer.Instance);
    private readonly List<int[]> _sets = [];
    private readonly List<int[]> _next = [];
    private readonly List<int> _minimum = [];
    private readonly List<bool> _accepting = [];
    private readonly List<bool> _exits = [];
    private readonly Lock _lock = new();

    private ByteAutomaton(List<(ByteSet Set, int To)>[] edges, List<int>[] epsilon, int start, int accept)
    {
        _edges = edges;
        _epsilon = epsilon;
        _accept = accept;
        _distance = Distances(edges, epsilon, accept);
        if (_distance[start] == int.MaxValue)
        {
            throw new ArgumentException("the grammar accepts no text");
        }

        Start = Intern(Closure([start]));
    }

    /// <summary>The state before any byte.</summary>
    public int Start { get; }

    /// <summary>The fewest bytes the grammar accepts.</summary>
    public int MinimumLength => MinimumRemaining(Start);

    /// <summary>Compiles <paramref name="grammar"/>.</summary>
    /// <exception cref="GrammarTooLargeException">It unrolls to more than <see cref="MaxStates"/> states.</exception>
    public static ByteAutomaton Compile(GrammarNode grammar)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        var builder = new Builder();
        var start = builder.NewState();
        var accept = builder.Build(grammar, start);
        return new ByteAutomaton([.. builder.Edges], [.. builder.Epsilon], start, accept);
    }

    /// <summary>The state after <paramref name="value"/> from <paramref name="state"/>, or <see cref="Dead"/>.</summary>
    public int Next(int state, byte value)
    {
        lock (_lock)
        {
            var next = _next[state];
            if (next[value] != Unknown)
            {
                return next[value];
            }

            var targets = new List<int>();
            foreach (var s in _sets[state])
            {
                foreach (var (set, to) in _edges[s])
                {
                    if (set.Contains(value))
                    {
                        targets.Add(to);
                    }
                }
            }

            var closure = Closure(targets);
            var result = closure.Length == 0 ? Dead : Intern(closure);
            _next[state][value] = result;
            return result;
        }
    }

    /// <summary>The state after <paramref name="bytes"/> from <paramref name="state"/>, or <see cref="Dead"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            state = Next(state, b);
            if (state == Dead)
            {
                return Dead;
            }
        }

        return state;
    }

    /// <summary>Whether the bytes that led to <paramref name="state"/> are a complete text of the grammar.</summary>
    public bool IsAccepting(int state)
    {
        lock (_lock)
        {
            return _accepting[state];
        }
    }

    /// <summary>Whether any byte can follow <paramref name="state"/>.</summary>
    public bool HasExits(int state)
    {
        lock (_lock)
        {
            return _exits[state];
        }
    }

    /// <summary>The fewest bytes that complete the grammar from <paramref name="state"/> (0 when accepting).</summary>
    public int MinimumRemaining(int state)
    {
        lock (_lock)
        {
            return _minimum[state];
        }
    }

    /// <summary>Whether <paramref name="text"/> (UTF-8) is a complete text of the grammar.</summary>
    public bool Matches(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = Walk(Start, System.Text.Encoding.UTF8.GetBytes(text));
        return state != Dead && IsAccepting(state);
    }

    private int Intern(int[] set)
    {
        if (_states.TryGetValue(set, out var id))
        {
            return id;
        }

        id = _sets.Count;
        _states.Add(set, id);
        _sets.Add(set);
        var next = new int[256];
        Array.Fill(next, Unknown);
        _next.Add(next);
        _minimum.Add(set.Min(s => _distance[s]));
        _accepting.Add(set.Contains(_accept));
        _exits.Add(set.Any(s => _edges[s].Count > 0));
        return id;
    }

    // The states reachable through epsilon edges, without those that can no longer reach the end; sorted.
    private int[] Closure(IEnumerable<int> from)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(from);
        while (stack.Count > 0)
        {
            var s = stack.Pop();
            if (!seen.Add(s))
            {
                continue;
            }

            foreach (var e in _epsilon[s])
            {
                stack.Push(e);
            }
        }

        var result = seen.Where(s => _distance[s] != int.MaxValue).ToArray();
        Array.Sort(result);
        return result;
    }

    // Fewest bytes from each state to the end: a 0-1 breadth-first search over the reversed edges.
    private static int[] Distances(List<(ByteSet Set, int To)>[] edges, List<int>[] epsilon, int accept)
    {
        var reverse = new List<(int From, int Cost)>[edges.Length];
        for (var i = 0; i < reverse.Length; i++)
        {
            reverse[i] = [];
        }

        for (var s = 0; s < edges.Length; s++)
        {
            foreach (var (_, to) in edges[s])
            {
                reverse[to].Add((s, 1));
            }

            foreach (var to in epsilon[s])
            {
                reverse[to].Add((s, 0));
            }
        }

        var distance = new int[edges.Length];
        Array.Fill(distance, int.MaxValue);
        distance[accept] = 0;
        var queue = new LinkedList<int>();
        queue.AddFirst(accept);
        while (queue.First is { } node)
        {
            queue.RemoveFirst();
            var s = node.Value;
            foreach (var (from, cost) in reverse[s])
            {
                var d = distance[s] + cost;
                if (d < distance[from])
                {
                    distance[from] = d;
                    if (cost == 0)
                    {
                        queue.AddFirst(from);
                    }
                    else
                    {
                        queue.AddLast(from);
                    }
                }
            }
        }

        return distance;
    }

    // Thompson's construction over a grammar without recursion: every node is built into fresh states.
    private sealed class Builder
    {
        public List<List<(ByteSet Set, int To)>> Edges { get; } = [];

        public List<List<int>> Epsilon { get; } = [];

        public int NewState()
        {
            if (Edges.Count >= MaxStates)
            {
                throw new GrammarTooLargeException(MaxStates);
            }

            Edges.Add([]);
            Epsilon.Add([]);
            return Edges.Count - 1;
        }

        // Builds 'node' starting at 'from'; returns the state where it ends.
        public int Build(GrammarNode node, int from)
        {
            switch (node)
            {
                case BytesNode bytes:
                {
                    var to = NewState();
                    Edges[from].Add((bytes.Set, to));
                    return to;
                }

                case SequenceNode sequence:
                {
                    var current = from;
                    foreach (var part in sequence.Parts)
                    {
                        current = Build(part, current);
                    }

                    return current;
                }

                case ChoiceNode choice:
                {
                    var end = NewState();
                    foreach (var option in choice.Options)
                    {
                        // Each option gets a start of its own, so one option's loops never reach another's.
                        var start = NewState();
                        Epsilon[from].Add(start);
                        Epsilon[Build(option, start)].Add(end);
                    }

                    return end;
                }

                case RepeatNode repeat:
                {
                    var current = from;
                    for (var i = 0; i < repeat.Min; i++)
                    {
                        current = Build(repeat.Node, current);
                    }

                    var end = NewState();
                    Epsilon[current].Add(end);
                    for (var i = repeat.Min; i < repeat.Max; i++)
                    {
                        current = Build(repeat.Node, current);
                        Epsilon[current].Add(end);
                    }

                    return end;
                }

                case AnyTextNode:
                {
                    var loop = NewState();
                    Epsilon[from].Add(loop);
                    Edges[loop].Add((ByteSet.All, loop));
                    return loop;
                }

                default:
                    throw new ArgumentException($"unknown grammar node {node.GetType().Name}", nameof(node));
            }
        }
    }

    private sealed class IntArrayComparer : IEqualityComparer<int[]>
    {
        public static IntArrayComparer Instance { get; } = new();

        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] obj)
        {
            var hash = new HashCode();
            foreach (var v in obj)
            {
                hash.Add(v);
            }

            return hash.ToHashCode();
        }
    }
}

/// <summary>A grammar (usually from a JSON Schema) unrolls to too many states to decode under.</summary>
public sealed class GrammarTooLargeException(int limit)
    : AgentFlowException($"the output grammar unrolls to more than {limit} states; lower maxLength, maxItems or nesting in the JSON Schema");
