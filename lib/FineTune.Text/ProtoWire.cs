// Minimal protobuf wire-format reader and writer: just enough to read and write
// SentencePiece ModelProto files (varints, 32-bit floats, length-delimited fields).
using System.Buffers.Binary;
using System.Text;

namespace FineTune.Text;

internal enum WireType { Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5 }

/// <summary>Forward-only reader over one protobuf message; throws <see cref="FormatException"/> on malformed
/// input.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly bool End => _pos >= _data.Length;
    public readonly int Position => _pos;

    public bool TryReadTag(out int field, out WireType wire)
    {
        if (End)
        {
            field = 0;
            wire = 0;
            return false;
        }
        ulong tag = ReadVarint();
        field = (int)(tag >> 3);
        wire = (WireType)(tag & 7);
        if (field <= 0)
            throw new FormatException($"invalid field number {field} at byte {_pos}");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _data.Length)
                throw new FormatException($"truncated varint at byte {_pos}");
            byte b = _data[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw new FormatException($"varint longer than 10 bytes at byte {_pos}");
    }

    public float ReadFloat() => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(Take(4)));

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong len = ReadVarint();
        if (len > (ulong)(_data.Length - _pos))
            throw new FormatException($"length {len} at byte {_pos} runs past the end of the data");
        return Take((int)len);
    }

    public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

    public void Skip(WireType wire)
    {
        switch (wire)
        {
            case WireType.Varint:
                ReadVarint();
                break;
            case WireType.Fixed64:
                Take(8);
                break;
            case WireType.Len:
                ReadBytes();
                break;
            case WireType.Fixed32:
                Take(4);
                break;
            default:
                throw new FormatException($"unsupported wire type {(int)wire} at byte {_pos}");
        }
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (_pos + n > _data.Length)
            throw new FormatException($"truncated field at byte {_pos}");
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }
}

/// <summary>Appends protobuf fields to a buffer.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _out = new();

    public byte[] ToArray() => _out.ToArray();

    public ProtoWriter Varint(int field,
        long value)
    {
        Tag(field, WireType.Varint);
        WriteVarint((ulong)value);
        return this;
    }
    public ProtoWriter Bool(int field, bool value) => Varint(field, value ? 1 : 0);

    public ProtoWriter Float(int field, float value)
    {
        Tag(field, WireType.Fixed32);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, BitConverter.SingleToInt32Bits(value));
        _out.Write(b);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, WireType.Len);
        WriteVarint((ulong)value.Length);
        _out.Write(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));
    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

    private void Tag(int field, WireType wire) => WriteVarint(((ulong)field << 3) | (ulong)wire);

    private void WriteVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _out.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _out.WriteByte((byte)v);
    }
}
