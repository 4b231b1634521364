// Appends rejected records to a rejects.jsonl, one {"line","reason","code","raw"} object per line (plus "field" when
// known, and "note" when the raw text had undecodable bytes), so a user can fix their file line by line. With PII
// redaction on, "raw" is redacted ("raw_redacted": true), or withheld ("raw_bytes" and "raw_sha256" instead).
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FineTune.Data.Ingestion;

public sealed class RejectsWriter : IAsyncDisposable, IDisposable
{
    static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    readonly FileStream _file;

    public RejectsWriter(string path) =>
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024,
            FileOptions.Asynchronous);

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
            if (r.Field is not null)
                json.WriteString("field", r.Field);
            switch (r.Kept)
            {
                case RawKept.Withheld:
                    json.WriteNumber("raw_bytes", r.RawBytes ?? 0);
                    json.WriteString("raw_sha256", r.RawSha256);
                    json.WriteString("note",
                        "the record could not be redacted (not JSON, or not UTF-8), so its text is withheld; " +
                                             "find it by line in your file (prepare.keep_raw_rejects keeps raw text)");
                    break;
                case RawKept.Unredacted:
                    json.WriteString("raw", r.Raw);
                    json.WriteBoolean("raw_unredacted", true);
                    break;
                default:
                    json.WriteString("raw", r.Raw);
                    if (r.Kept == RawKept.Redacted)
                        json.WriteBoolean("raw_redacted", true);
                    break;
            }
            if (r.Code == RejectCodes.InvalidUtf8 && r.Kept != RawKept.Withheld)
                json.WriteString("note",
                    "the original bytes were not valid UTF-8; raw shows each undecodable byte as U+FFFD");
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    public void Dispose() => _file.Dispose();

    public ValueTask DisposeAsync() => _file.DisposeAsync();
}
