using System.Text;

namespace AgentFlow.Models.Llama.Tests.Support;

/// <summary>
/// A small GGUF v3 reader written from the format description (not sharing code with the writer), so the tests check
/// the writer against the format rather than against itself.
/// </summary>
internal sealed class GgufFile
{
    public uint Version { get; private init; }

    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);

    public List<GgufTensor> Tensors { get; } = [];

    public long DataStart { get; private set; }

    public long Length { get; private init; }

    public byte[] Bytes { get; private init; } = [];

    public static GgufFile Parse(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        Assert.Equal("GGUF"u8.ToArray(), r.ReadBytes(4));
        var file = new GgufFile { Version = r.ReadUInt32(), Length = bytes.Length, Bytes = bytes };
        var tensorCount = r.ReadUInt64();
        var kvCount = r.ReadUInt64();
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = ReadString(r);
            file.Metadata[key] = ReadValue(r, r.ReadUInt32());
        }

        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = ReadString(r);
            var nDims = r.ReadUInt32();
            var dims = new long[nDims];
            for (var d = 0; d < nDims; d++)
            {
                dims[d] = (long)r.ReadUInt64();
            }

            var type = r.ReadUInt32();
            var offset = (long)r.ReadUInt64();
            file.Tensors.Add(new GgufTensor(name, dims, type, offset));
        }

        var alignment = file.Metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt64(a, System.Globalization.CultureInfo.InvariantCulture) : 32;
        var position = r.BaseStream.Position;
        file.DataStart = (position + alignment - 1) / alignment * alignment;
        for (var p = position; p < file.DataStart; p++)
        {
            Assert.Equal(0, bytes[p]);
        }

        return file;
    }

    public GgufTensor Tensor(string name) => Tensors.Single(t => t.Name == name);

    public float[] ReadF32(GgufTensor tensor)
    {
        Assert.Equal(0u, tensor.Type);
        var start = checked((int)(DataStart + tensor.Offset));
        var values = new float[tensor.ElementCount];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BitConverter.ToSingle(Bytes, start + (i * 4));
        }

        return values;
    }

    private static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));

    private static object ReadValue(BinaryReader r, uint type) => type switch
    {
        0 => r.ReadByte(),
        1 => r.ReadSByte(),
        2 => r.ReadUInt16(),
        3 => r.ReadInt16(),
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadByte() != 0,
        8 => ReadString(r),
        9 => ReadArray(r),
        10 => r.ReadUInt64(),
        11 => r.ReadInt64(),
        12 => r.ReadDouble(),
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };

    private static object[] ReadArray(BinaryReader r)
    {
        var elementType = r.ReadUInt32();
        var count = checked((int)r.ReadUInt64());
        var items = new object[count];
        for (var i = 0; i < count; i++)
        {
            items[i] = ReadValue(r, elementType);
        }

        return items;
    }
}

internal sealed record GgufTensor(string Name, long[] Dims, uint Type, long Offset)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

    public long ByteSize => ElementCount * Type switch
    {
        0 => 4,
        1 => 2,
        _ => throw new InvalidDataException($"unexpected tensor type {Type}"),
    };
}
