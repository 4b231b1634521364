// A record as a container reader hands it over, before field mapping: parsed JSON, plain text, or a rejection
// (bad bytes, bad JSON, too large). Also the per-file counters the readers fill in (CRLF, blank lines, BOM).
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace FineTune.Data.Ingestion;

internal sealed class SourceStats
{
    public bool Bom, Crlf;
    public long BlankLines;
}

/// <summary>Exactly one of Doc (JSON object or value), Text (a .txt line) and Error is set.</summary>
internal readonly record struct RawRecord(long Line, string Raw, JsonDocument? Doc, string? Text, Rejection? Error)
{
    public static RawRecord Fail(long line, string raw, string code, string reason) =>
        new(line, raw, null, null, new Rejection(line, code, reason, raw));

    public static RawRecord TooLarge(long line, ReadOnlySpan<byte> prefix, long length, int max) =>
        Fail(line, Encoding.UTF8.GetString(prefix) + $"… ({length:N0} bytes in all)", RejectCodes.RecordTooLarge,
            $"the record is {length:N0} bytes; the limit is {max:N0} (ReadOptions.MaxRecordBytes)");

    /// <summary>Decodes and parses one JSON record; bad UTF-8 or bad JSON becomes a rejection.</summary>
    public static RawRecord Json(long line, ReadOnlyMemory<byte> bytes)
    {
        if (Undecodable(line, bytes.Span) is { } bad)
            return bad;
        var raw = Encoding.UTF8.GetString(bytes.Span);
        try
        {
            return new RawRecord(line, raw, JsonDocument.Parse(bytes), null, null);
        }
        catch (JsonException e)
        {
            return Fail(line, raw, RejectCodes.InvalidJson, JsonError(e));
        }
    }

    /// <summary>One line of a .txt file as a text document.</summary>
    public static RawRecord PlainText(long line, ReadOnlySpan<byte> bytes)
    {
        if (Undecodable(line, bytes) is { } bad)
            return bad;
        var text = Encoding.UTF8.GetString(bytes);
        return new RawRecord(line, text, null, text, null);
    }

    /// <summary>A rejection when the bytes are not valid UTF-8, naming the first bad byte and where it is.</summary>
    public static RawRecord? Undecodable(long line, ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
            return null;
        var at = FirstInvalidUtf8(bytes);
        return Fail(line, Encoding.UTF8.GetString(bytes), RejectCodes.InvalidUtf8,
            $"byte 0x{bytes[at]:X2} at offset {at} is not valid UTF-8 (the file must be UTF-8; raw shows bad bytes " +
                $"as U+FFFD)");
    }

    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        for (var i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out var used) != System.Buffers.OperationStatus.Done)
                return i;
            i += used;
        }
        return 0;
    }

    /// <summary>"not valid JSON at line 1, byte 17: 'x' is an invalid start of a value."</summary>
    public static string JsonError(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0)
            message = message[..cut].TrimEnd();
        return $"not valid JSON at line {(e.LineNumber ?? 0) + 1}, byte {e.BytePositionInLine ?? 0} of the record: " +
            $"{message}";
    }
}
