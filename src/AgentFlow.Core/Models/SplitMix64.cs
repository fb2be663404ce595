namespace AgentFlow.Models;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fixed pseudo-random generator. Used instead of
/// <see cref="Random"/>, whose algorithm is not guaranteed to stay the same across .NET versions,
/// so that a seed always yields the same model file.
/// </summary>
internal struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A float uniformly distributed in [-1, 1), from the top 24 bits (exact in single precision).</summary>
    public float NextSignedUnit() => ((NextUInt64() >> 40) * (1.0f / 8388608.0f)) - 1.0f;
}
