// Appends rejected records to a rejects.jsonl, one {"line","reason","code","raw"} object per line (plus "field" when
// known, and "note" when the raw text had undecodable bytes), so a user can fix their file line by line.
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FineTune.Data.Ingestion;

public sealed class RejectsWriter : IAsyncDisposable, IDisposable
{
    static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    readonly FileStream _file;

    public RejectsWriter(string path) =>
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024, FileOptions.Asynchronous);

    public long Written { get; private set; }

    public async Task WriteAsync(Rejection rejection, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(rejection);
        await _file.WriteAsync(Line(rejection), ct);
        Written++;
    }

    public void Write(Rejection rejection)
    {
        ArgumentNullException.ThrowIfNull(rejection);
        _file.Write(Line(rejection));
        Written++;
    }

    static byte[] Line(Rejection r)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            json.WriteNumber("line", r.Line);
            json.WriteString("reason", r.Reason);
            json.WriteString("code", r.Code);
            if (r.Field is not null) json.WriteString("field", r.Field);
            json.WriteString("raw", r.Raw);
            if (r.Code == RejectCodes.InvalidUtf8)
                json.WriteString("note", "the original bytes were not valid UTF-8; raw shows each undecodable byte as U+FFFD");
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    public void Dispose() => _file.Dispose();

    public ValueTask DisposeAsync() => _file.DisposeAsync();
}
