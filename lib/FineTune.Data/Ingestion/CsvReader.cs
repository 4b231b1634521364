// RFC 4180 CSV: quoted fields may hold delimiters, doubled quotes and line breaks (kept as written, LF or CRLF).
// Each data row becomes a JSON object keyed by the column names, so the JSON mapping applies; rows are numbered
// 1-based.
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace FineTune.Data.Ingestion;

internal static class CsvReader
{
    /// <summary>Cells of these columns that hold a JSON array are read as that array (a message list).</summary>
    static readonly HashSet<string> ListColumns = ["messages", "conversations", "chosen", "rejected"];

    public static async IAsyncEnumerable<RawRecord> ReadAsync(
        ByteSource source, CsvOptions options, int maxRecordBytes, SourceStats stats, string path,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        string[]? columns = options.Header ? null : options.Columns?.ToArray()
            ?? throw new ArgumentException("CsvOptions.Columns is required when Header is false.", nameof(options));
        long row = 0;
        var record = new ArrayBufferWriter<byte>();
        while (await source.ReadLineAsync(ct) is { } first)
        {
            ct.ThrowIfCancellationRequested();
            // Gather physical lines until the quotes balance: an odd count means a quoted field runs on.
            record.Clear();
            var line = first;
            var quotes = 0;
            long length = 0;
            var tooLarge = false;
            while (true)
            {
                if (line.HadCr)
                    stats.Crlf = true;
                quotes += line.Bytes.Span.Count((byte)'"');
                length += line.Length;
                tooLarge |= line.TooLarge || length > maxRecordBytes;
                if (!tooLarge)
                    record.Write(line.Bytes.Span);
                if (quotes % 2 == 0 || await source.ReadLineAsync(ct) is not { } next)
                    break;
                if (!tooLarge)
                    record.Write(line.HadCr ? "\r\n"u8 : "\n"u8);
                line = next;
            }
            if (!tooLarge && LineReader.IsBlank(record.WrittenSpan))
            {
                stats.BlankLines++;
                continue;
            }
            if (columns is null)
            {
                columns = Header(record.WrittenSpan, options.Delimiter, path);
                continue;
            }
            row++;
            if (tooLarge)
            {
                yield return RawRecord.TooLarge(row, record.WrittenSpan[..Math.Min(record.WrittenCount, 1024)], length,
                    maxRecordBytes);
                continue;
            }
            yield return Row(row, record.WrittenSpan, columns, options);
        }
    }

    static string[] Header(ReadOnlySpan<byte> bytes, char delimiter, string path)
    {
        if (RawRecord.Undecodable(0, bytes) is not null)
            throw new InvalidDatasetException($"'{path}': the CSV header row is not valid UTF-8; re-save the file " +
                $"as UTF-8.");
        if (!TrySplit(Encoding.UTF8.GetString(bytes), delimiter, out var names, out var error))
            throw new InvalidDatasetException($"'{path}': the CSV header row cannot be read: {error}.");
        var columns = names.Select(n => n.Trim()).ToArray();
        if (columns.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new InvalidDatasetException($"'{path}': the CSV header names the column '{twice.Key}' twice.");
        return columns;
    }

    static RawRecord Row(long row, ReadOnlySpan<byte> bytes, string[] columns, CsvOptions options)
    {
        if (RawRecord.Undecodable(row, bytes) is { } bad)
            return bad;
        var raw = Encoding.UTF8.GetString(bytes);
        if (!TrySplit(raw, options.Delimiter, out var fields, out var error))
            return RawRecord.Fail(row, raw, RejectCodes.InvalidCsv, error);
        if (fields.Count != columns.Length)
            return RawRecord.Fail(row, raw, RejectCodes.InvalidCsv,
                $"the row has {fields.Count} fields; expected {columns.Length} ({string.Join(", ", columns)})");
        IReadOnlyDictionary<string, string> cells = columns.Zip(fields).ToDictionary(p => p.First, p => p.Second);
        if (options.Transform is { } transform)
            cells = transform(cells);
        return new RawRecord(row, raw, JsonDocument.Parse(ToJson(cells)), null, null);
    }

    static byte[] ToJson(IReadOnlyDictionary<string, string> cells)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in cells)
            {
                if (ListColumns.Contains(name) && value.TrimStart().StartsWith('[') && TryParseArray(value)
                    is { } array)
                {
                    json.WritePropertyName(name);
                    array.WriteTo(json);
                }
                else
                    json.WriteString(name, value);
            }
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A cell (or Parquet string column) holding a JSON array, parsed; null when it is not one.</summary>
    internal static JsonElement? TryParseArray(string value)
    {
        try
        {
            using var doc = JsonDocument.Parse(value);
            return doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Splits one record into fields (RFC 4180): "" inside quotes is a quote; after a closing quote comes a
    /// delimiter.</summary>
    internal static bool TrySplit(string record, char delimiter, out List<string> fields, out string error)
    {
        fields = [];
        error = "";
        var field = new StringBuilder();
        var i = 0;
        while (true)
        {
            field.Clear();
            if (i < record.Length && record[i] == '"')
            {
                var open = i++;
                while (true)
                {
                    if (i >= record.Length)
                    {
                        error = $"the quoted field opened at character {open} is not closed";
                        return false;
                    }
                    if (record[i] == '"')
                    {
                        if (i + 1 < record.Length && record[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field.Append(record[i++]);
                }
                if (i < record.Length && record[i] != delimiter)
                {
                    error =
                        $"character {i}: expected '{delimiter}' or the end of the row after a closing quote, found " +
                        $"'{record[i]}'";
                    return false;
                }
            }
            else
            {
                var next = record.IndexOf(delimiter, i);
                var stop = next < 0 ? record.Length : next;
                field.Append(record, i, stop - i);
                i = stop;
            }
            fields.Add(field.ToString());
            if (i >= record.Length)
                return true;
            i++; // the delimiter
        }
    }
}
