// Drops records whose normalised text (NFKC, lower-case, whitespace collapsed, roles included) was seen before.
// Keeps 16 bytes of the SHA-256 per record (collision odds ~2^-64 at a billion records), never the text.
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FineTune.Data.Cleaning;

public sealed class ExactDeduplicator
{
    readonly Dictionary<UInt128, long> _firstLine = [];

    public int Count => _firstLine.Count;

    /// <summary>True when the record is new (and is remembered); false with the first record's line when it is a
    /// duplicate.</summary>
    public bool TryAdd(DataRecord record, out long duplicateOfLine)
    {
        var hash = Key(record);
        var key = BinaryPrimitives.ReadUInt128BigEndian(hash);
        if (_firstLine.TryGetValue(key, out duplicateOfLine))
            return false;
        _firstLine.Add(key, record.Line);
        duplicateOfLine = 0;
        return true;
    }

    /// <summary>SHA-256 of the record's normalised text.</summary>
    public static byte[] Key(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return SHA256.HashData(StableHash.Utf8(RecordText.DedupText(record)));
    }
}
