// Parquet: each row becomes the JSON object a JSONL line would be, so mapping, detection and checks are unchanged.
// Read one row group at a time (memory is bounded by a row group, never the whole file); rows are numbered 1-based.
using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace FineTune.Data.Ingestion;

internal static class ParquetRecordReader
{
    /// <summary>The first four bytes (and the last four) of every Parquet file.</summary>
    public static ReadOnlySpan<byte> Magic => "PAR1"u8;

    /// <summary>String columns of these names holding a JSON array are read as that array (as the CSV reader
    /// does).</summary>
    static readonly HashSet<string> ListColumns = ["messages", "conversations", "chosen", "rejected"];

    /// <summary>Raw (rejects.jsonl) shows text as written: no \u escapes for '+', quotes in prose or
    /// non-ASCII.</summary>
    static readonly JsonWriterOptions Writer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async IAsyncEnumerable<RawRecord> ReadAsync(
        Stream file, int maxRecordBytes, string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var (schema, groups) = await OpenAsync(file, path, ct);
        long row = 0;
        for (var group = 0; group < groups; group++)
        {
            var rows = await RowGroupAsync(file, group, path, ct);
            foreach (var values in rows)
            {
                ct.ThrowIfCancellationRequested();
                row++;
                var json = ToJson(values, schema);
                yield return json.Length > maxRecordBytes
                    ? RawRecord.TooLarge(row, json.AsSpan(0, Math.Min(json.Length, 1024)), json.Length, maxRecordBytes)
                    : RawRecord.Json(row, json);
            }
        }
    }

    /// <summary>Reads the footer: the schema and the number of row groups. A damaged file is a whole-file
    /// error.</summary>
    static async Task<(ParquetSchema, int)> OpenAsync(Stream file, string path, CancellationToken ct)
    {
        if (file.Length < 12)
            throw Unreadable(path, $"it is {file.Length} bytes, shorter than the smallest Parquet file");
        try
        {
            file.Position = 0;
            await using var reader = await ParquetReader.CreateAsync(file, leaveStreamOpen: true,
                cancellationToken: ct);
            return (reader.Schema, reader.RowGroupCount);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Unreadable(path, e.Message);
        }
    }

    /// <summary>One row group as untyped rows (nested lists and structs as lists and dictionaries; null fields left
    /// out).</summary>
    static async Task<IList<Dictionary<string, object>>> RowGroupAsync(Stream file, int group, string path,
        CancellationToken ct)
    {
        try
        {
            file.Position = 0;
            var result = await ParquetSerializer.DeserializeUntypedAsync(file, null, group, ct);
            return result.Data;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Unreadable(path, $"row group {group + 1}: {e.Message}");
        }
    }

    static InvalidDatasetException Unreadable(string path, string why) =>
        new($"'{path}' is not a readable Parquet file ({why}); it may be truncated or damaged: re-export it, or " +
            $"export it as JSON Lines.");

    /// <summary>One row as a JSON object, fields in schema order; a null value (or a field the row lacks) is JSON
    /// null.</summary>
    static byte[] ToJson(IDictionary<string, object> row, ParquetSchema schema)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, Writer))
        {
            json.WriteStartObject();
            foreach (var field in schema.Fields)
            {
                json.WritePropertyName(field.Name);
                var value = row.TryGetValue(field.Name, out var v) ? v : null;
                if (ListColumns.Contains(field.Name) && Text(value) is { } text && text.TrimStart().StartsWith('[')
                    && CsvReader.TryParseArray(text) is { } array)
                    array.WriteTo(json);
                else
                    Write(json, value, field);
            }
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    static void Write(Utf8JsonWriter json, object? value, Field? field)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case string s:
                json.WriteStringValue(s);
                break;
            case ReadOnlyMemory<char> chars:
                json.WriteStringValue(chars.Span);
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case sbyte or byte or short or ushort or int or uint or long:
                json.WriteNumberValue(Convert.ToInt64(value,
                CultureInfo.InvariantCulture));
                break;
            case ulong u:
                json.WriteNumberValue(u);
                break;
            case decimal m:
                json.WriteNumberValue(m);
                break;
            case float f when float.IsFinite(f):
                json.WriteNumberValue(f);
                break;
            case double d when double.IsFinite(d):
                json.WriteNumberValue(d);
                break;
            case Half h when Half.IsFinite(h):
                json.WriteNumberValue((double)h);
                break;
            case DateTime t:
                json.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture));
                break;
            case DateTimeOffset t:
                json.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture));
                break;
            case DateOnly t:
                json.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture));
                break;
            case TimeOnly t:
                json.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture));
                break;
            case byte[] bytes:
                WriteBytes(json, bytes);
                break;
            case ReadOnlyMemory<byte> bytes:
                WriteBytes(json, bytes.Span);
                break;
            case IDictionary<string, object> fields:
                WriteStruct(json, fields, field);
                break;
            case IDictionary map:
                json.WriteStartObject();
                foreach (DictionaryEntry entry in map)
                {
                    json.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "");
                    Write(json, entry.Value, (field as MapField)?.Value);
                }
                json.WriteEndObject();
                break;
            case IEnumerable items:
                json.WriteStartArray();
                foreach (var item in items)
                    Write(json, item, (field as ListField)?.Item);
                json.WriteEndArray();
                break;
            default:
                json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    /// <summary>A struct: its schema fields in order (null when the row has no value), then any others it
    /// holds.</summary>
    static void WriteStruct(Utf8JsonWriter json, IDictionary<string, object> values, Field? field)
    {
        json.WriteStartObject();
        var declared = (field as StructField)?.Fields ?? [];
        foreach (var child in declared)
        {
            json.WritePropertyName(child.Name);
            Write(json, values.TryGetValue(child.Name, out var v) ? v : null, child);
        }
        foreach (var (name, v) in values)
            if (!declared.Any(c => c.Name == name))
            {
                json.WritePropertyName(name);
                Write(json, v, null);
            }
        json.WriteEndObject();
    }

    /// <summary>Binary without a string annotation: text when it is valid UTF-8, else base64.</summary>
    static void WriteBytes(Utf8JsonWriter json, ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
            json.WriteStringValue(Encoding.UTF8.GetString(bytes));
        else
            json.WriteBase64StringValue(bytes);
    }

    static string? Text(object? value) => value switch
    {
        string s => s,
        ReadOnlyMemory<char> chars => chars.ToString(),
        _ => null,
    };
}
