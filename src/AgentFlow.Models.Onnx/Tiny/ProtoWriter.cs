using System.Buffers;
using System.Text;

namespace AgentFlow.Models.Onnx.Tiny;

/// <summary>
/// The few Protocol Buffers encodings an ONNX file needs (varints, 64-bit integers, strings, bytes, packed floats and
/// nested messages), written by hand so the tiny model needs no code generator. Fields are written in the order the
/// caller gives, so equal calls give equal bytes.
/// </summary>
internal sealed class ProtoWriter
{
    private const int WireVarint = 0, WireLengthDelimited = 2;

    private readonly ArrayBufferWriter<byte> _buffer = new();

    /// <summary>The encoded message.</summary>
    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public void Int64(int field, long value)
    {
        Tag(field, WireVarint);
        Varint(unchecked((ulong)value));
    }

    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, WireLengthDelimited);
        Varint((ulong)value.Length);
        _buffer.Write(value);
    }

    /// <summary>A repeated int64 field, packed (one length-delimited run of varints).</summary>
    public void PackedInt64(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (var value in values)
        {
            inner.Varint(unchecked((ulong)value));
        }

        Bytes(field, inner.ToArray());
    }

    /// <summary>A nested message.</summary>
    public void Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        Bytes(field, inner.ToArray());
    }

    private void Tag(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.Write([(byte)(value | 0x80)]);
            value >>= 7;
        }

        _buffer.Write([(byte)value]);
    }
}
