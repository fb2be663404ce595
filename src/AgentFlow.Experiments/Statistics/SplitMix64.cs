namespace AgentFlow.Experiments.Statistics;

/// <summary>
/// SplitMix64: a tiny, fully specified pseudo-random generator, so a seeded bootstrap gives the same interval on every
/// platform and .NET version (and can be reproduced outside .NET).
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A number in [0, <paramref name="count"/>): the high 64 bits of <c>Next() * count</c>.</summary>
    public int NextIndex(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return (int)(((UInt128)Next() * (ulong)count) >> 64);
    }
}
