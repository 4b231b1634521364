// Line containers: JSONL (one JSON value per line) and .txt (one document per non-empty line).
// Line numbers are physical 1-based lines, so they match an editor; blank lines are skipped and counted.
using System.Runtime.CompilerServices;

namespace FineTune.Data.Ingestion;

internal static class LineReader
{
    public static async IAsyncEnumerable<RawRecord> ReadAsync(
        ByteSource source, bool plainText, int maxRecordBytes, SourceStats stats,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        long number = 0;
        while (await source.ReadLineAsync(ct) is { } line)
        {
            ct.ThrowIfCancellationRequested();
            number++;
            if (line.HadCr)
                stats.Crlf = true;
            if (line.TooLarge || line.Length > maxRecordBytes)
            {
                yield return RawRecord.TooLarge(number, line.Bytes.Span[..Math.Min(line.Bytes.Length, 1024)],
                    line.Length, maxRecordBytes);
                continue;
            }
            if (IsBlank(line.Bytes.Span))
            {
                stats.BlankLines++;
                continue;
            }
            yield return plainText ? RawRecord.PlainText(number, line.Bytes.Span) : RawRecord.Json(number, line.Bytes);
        }
    }

    public static bool IsBlank(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept(" \t\r\f\v"u8) < 0;
}
