// Whole-file checks on the first bytes of a text container: empty, UTF-16/32 (by BOM or NUL pattern), binary formats
// (zip; gzip-wrapped Parquet — plain Parquet is taken by its magic before these checks),
// and the UTF-8 BOM (accepted, stripped, reported as a warning). Per-record invalid UTF-8 is handled by RawRecord.
namespace FineTune.Data.Ingestion;

internal static class Encodings
{
    const int Sample = 4096;

    /// <summary>Validates the start of the file and returns its first non-blank byte (after any UTF-8 BOM).</summary>
    public static async Task<byte> CheckAsync(ByteSource source, string path, bool gzip, SourceStats stats,
        CancellationToken ct)
    {
        var name = gzip ? $"'{path}' (after gzip decompression)" : $"'{path}'";
        var head = await source.PeekAsync(Sample, ct);
        var span = head.Span[..Math.Min(head.Length, Sample)];
        if (span.IsEmpty)
            throw new InvalidDatasetException($"{name} is empty; expected records as JSON Lines, a JSON array, CSV " +
                $"or text.");
        if (span is [0xFF, 0xFE, ..] or [0xFE, 0xFF, ..] || LooksUtf16(span))
            throw new InvalidDatasetException($"{name} is UTF-16; re-save it as UTF-8 (without BOM).");
        if (gzip && span.StartsWith(ParquetRecordReader.Magic))
            throw GzipParquet(path);
        if (span is [(byte)'P', (byte)'K', 3, 4, ..])
            throw new InvalidDatasetException($"{name} is a zip archive; extract it and upload the dataset file " +
                $"inside.");
        if (span.Contains((byte)0))
            throw new InvalidDatasetException($"{name} is binary (it contains NUL bytes); expected UTF-8 text.");
        if (span is [0xEF, 0xBB, 0xBF, ..])
        {
            stats.Bom = true;
            source.Skip(3);
            span = span[3..];
        }
        var first = span.IndexOfAnyExcept(" \t\r\n\f\v"u8);
        if (first < 0 && span.Length < Sample - 3)
            throw new InvalidDatasetException($"{name} is empty (only whitespace); expected records.");
        return first < 0 ? (byte)' ' : span[first];
    }

    /// <summary>Parquet compresses its own pages and is read by seeking to its footer, which a gzip stream cannot
    /// do.</summary>
    public static InvalidDatasetException GzipParquet(string path) =>
        new($"'{path}' is gzip-compressed Parquet, which is not read: Parquet compresses its own pages. Decompress " +
            $"it (gunzip) and read the .parquet file.");

    /// <summary>UTF-16 text without BOM: ASCII characters leave a NUL in every other byte, all on one side.</summary>
    static bool LooksUtf16(ReadOnlySpan<byte> span)
    {
        if (span.Length < 4)
            return false;
        int even = 0, odd = 0;
        for (var i = 0; i + 1 < span.Length; i += 2)
        {
            if (span[i] == 0)
                even++;
            if (span[i + 1] == 0)
                odd++;
        }
        var pairs = span.Length / 2;
        return (even > pairs * 0.4 && odd < pairs * 0.05) || (odd > pairs * 0.4 && even < pairs * 0.05);
    }
}
