namespace AgentFlow.Models.Constraints;

/// <summary>A set of byte values (256 bits): the bytes one step of a <see cref="GrammarNode"/> accepts.</summary>
public readonly record struct ByteSet(ulong B0, ulong B1, ulong B2, ulong B3)
{
    /// <summary>No byte.</summary>
    public static ByteSet None => default;

    /// <summary>Every byte.</summary>
    public static ByteSet All => new(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue);

    /// <summary>True when the set has no byte.</summary>
    public bool IsEmpty => (B0 | B1 | B2 | B3) == 0;

    /// <summary>The single byte <paramref name="value"/>.</summary>
    public static ByteSet Of(byte value) => Range(value, value);

    /// <summary>The bytes from <paramref name="first"/> to <paramref name="last"/>, both included.</summary>
    public static ByteSet Range(byte first, byte last)
    {
        ulong b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (var b = (int)first; b <= last; b++)
        {
            var bit = 1UL << (b & 63);
            switch (b >> 6)
            {
                case 0: b0 |= bit; break;
                case 1: b1 |= bit; break;
                case 2: b2 |= bit; break;
                default: b3 |= bit; break;
            }
        }

        return new ByteSet(b0, b1, b2, b3);
    }

    /// <summary>Whether <paramref name="value"/> is in the set.</summary>
    public bool Contains(byte value)
    {
        var word = (value >> 6) switch { 0 => B0, 1 => B1, 2 => B2, _ => B3 };
        return (word & (1UL << (value & 63))) != 0;
    }

    /// <summary>Bytes in either set.</summary>
    public ByteSet Union(ByteSet other) => new(B0 | other.B0, B1 | other.B1, B2 | other.B2, B3 | other.B3);

    /// <summary>Bytes in both sets.</summary>
    public ByteSet Intersect(ByteSet other) => new(B0 & other.B0, B1 & other.B1, B2 & other.B2, B3 & other.B3);

    /// <summary>Bytes of this set that are not in <paramref name="other"/>.</summary>
    public ByteSet Except(ByteSet other) => new(B0 & ~other.B0, B1 & ~other.B1, B2 & ~other.B2, B3 & ~other.B3);

    /// <summary>The lowest byte of the set, or -1 when it is empty.</summary>
    public int First()
    {
        for (var b = 0; b < 256; b++)
        {
            if (Contains((byte)b))
            {
                return b;
            }
        }

        return -1;
    }
}
