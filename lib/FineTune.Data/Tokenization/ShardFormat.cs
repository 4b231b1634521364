// The binary layout of a token shard (docs/shard-format.md): a 64-byte header, ids, one mask byte per
// token, an int64 (start, end) index per sequence and, per example, an int64 prompt length in pair shards or an int64
// rating (1 desirable, 0 undesirable) in feedback shards.
using System.Buffers.Binary;

namespace FineTune.Data.Tokenization;

/// <summary>Sequences: one sequence per example (chat, text). Pairs: (chosen, rejected) per example with a shared
/// prompt length. Feedback: one sequence per example with its rating (KTO).</summary>
public enum ShardKind { Sequences = 0, Pairs = 1, Feedback = 2 }

internal readonly record struct ShardHeader(int TokenBytes, ShardKind Kind, long Examples, long Sequences, long Tokens,
    int VocabSize)
{
    public const int Size = 64;
    public const int Version = 1;
    public const int MaskBytePerToken = 0;
    public static ReadOnlySpan<byte> Magic => "FTSHARD1"u8;

    public long TokensOffset => Size;
    public long MaskOffset => Align8(TokensOffset + Tokens * TokenBytes);
    public long IndexOffset => Align8(MaskOffset + Tokens);
    public long PromptsOffset => IndexOffset + Sequences * 16;
    public long FileLength => PromptsOffset + (Kind == ShardKind.Sequences ? 0 : Examples * 8);

    public static long Align8(long n) => (n + 7) & ~7L;

    /// <summary>uint16 ids while every id fits (vocabulary ≤ 65535 ids), int32 otherwise.</summary>
    public static int TokenBytesFor(int vocabSize) => vocabSize <= 65535 ? 2 : 4;

    public void Write(Span<byte> h)
    {
        h[..Size].Clear();
        Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)TokenBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)Kind);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], MaskBytePerToken);
        BinaryPrimitives.WriteInt64LittleEndian(h[24..], Examples);
        BinaryPrimitives.WriteInt64LittleEndian(h[32..], Sequences);
        BinaryPrimitives.WriteInt64LittleEndian(h[40..], Tokens);
        BinaryPrimitives.WriteInt32LittleEndian(h[48..], VocabSize);
    }

    /// <summary>Parses and checks a header against the file's length; every problem names the file.</summary>
    public static ShardHeader Read(ReadOnlySpan<byte> h, long fileLength, string path)
    {
        if (fileLength < Size)
            throw Bad(path, $"is {fileLength} bytes, shorter than the {Size}-byte header (truncated or not a shard)");
        if (!h[..8].SequenceEqual(Magic))
            throw Bad(path,
                $"does not start with the magic \"FTSHARD1\" (found {Convert.ToHexString(h[..8])}); not a token shard");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version != Version)
            throw Bad(path, $"has format version {version}; this reader understands version {Version}");
        uint tokenBytes = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        if (tokenBytes is not (2 or 4))
            throw Bad(path, $"declares {tokenBytes}-byte token ids; expected 2 (uint16) or 4 (int32)");
        uint kind = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        if (kind > 2)
            throw Bad(path, $"declares shard kind {kind}; expected 0 (sequences), 1 (pairs) or 2 (feedback)");
        uint mask = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        if (mask != MaskBytePerToken)
            throw Bad(path, $"declares mask encoding {mask}; expected 0 (one byte per token)");
        var header = new ShardHeader((int)tokenBytes, (ShardKind)kind, BinaryPrimitives.ReadInt64LittleEndian(h[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(h[32..]), BinaryPrimitives.ReadInt64LittleEndian(h[40..]),
                BinaryPrimitives.ReadInt32LittleEndian(h[48..]));
        const long Limit = 1L << 40;
        if (header.Examples is < 0 or > Limit || header.Tokens is < 0 or > Limit || header.VocabSize < 0)
            throw Bad(path,
                $"has impossible counts (examples {header.Examples}, tokens {header.Tokens}, vocab " +
                $"{header.VocabSize})");
        if (header.Sequences != header.Examples * (header.Kind == ShardKind.Pairs ? 2 : 1))
            throw Bad(path, $"has {header.Sequences} sequences for {header.Examples} examples of kind {header.Kind}");
        if (fileLength != header.FileLength)
            throw Bad(path,
                $"is {fileLength} bytes but its header ({header.Examples} examples, {header.Tokens} tokens) needs " +
                $"{header.FileLength}" +
                (fileLength < header.FileLength ? " (truncated?)" : ""));
        return header;
    }

    public static InvalidDataException Bad(string path, string what) => new($"shard '{path}' {what}");
}
