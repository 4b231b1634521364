// What a rejected record may keep of its text once PII redaction is on: the same placeholders the cleaner puts into
// the splits. JSON records are redacted string by string (keys included: an unrecognised key can be an address); text
// that is not JSON or not UTF-8 cannot be redacted safely (an escape such as \u0040 hides an address from any pattern),
// so only its length and hash are kept. keep_raw_rejects keeps the text as read — clipped and marked when it could not
// have been redacted. The reason and field are redacted too: they can quote a role or a key from the record.
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data.Ingestion;

namespace FineTune.Data.Cleaning;

public sealed class RejectRedactor(PiiOptions pii, bool keepRaw)
{
    const int UnredactedPrefix = 1000;
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    readonly long[] _counts = new long[Enum.GetValues<PiiType>().Length];

    /// <summary>Redaction is on (any PII type) and the raw text is not to be kept as read.</summary>
    public bool Redacts => pii.Any;

    public Rejection Apply(Rejection r)
    {
        if (!pii.Any)
            return r;
        var reason = Text(r.Reason);
        var field = r.Field is null ? null : Text(r.Field);
        bool decoded = r.Code is not (RejectCodes.InvalidUtf8 or RejectCodes.RecordTooLarge);
        var json = decoded ? TryParse(r.Raw) : null;
        if (keepRaw)
            return json is not null
                ? r with { Reason = reason, Field = field }
                : r with { Reason = reason, Field = field, Raw = Clip(r.Raw), Kept = RawKept.Unredacted };
        if (json is not null)
            return r with
            {
                Reason = reason,
                Field = field,
                Raw = Redact(json)!.ToJsonString(Compact),
                Kept = RawKept.Redacted
            };
        var bytes = Encoding.UTF8.GetBytes(r.Raw);
        return r with
        {
            Reason = reason,
            Field = field,
            Raw = "",
            Kept = RawKept.Withheld,
            RawBytes = bytes.Length,
            RawSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
        };
    }

    /// <summary>Any user text (a label, a message) with PII replaced by its placeholder.</summary>
    public string Text(string text) => pii.Any ? PiiRedactor.Redact(text, pii, _counts) : text;

    JsonNode? Redact(JsonNode? node) => node switch
    {
        JsonObject o => RedactObject(o),
        JsonArray a => new JsonArray(a.Select(Redact).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(Text(v.GetValue<string>())),
        _ => node?.DeepClone(),
    };

    JsonObject RedactObject(JsonObject o)
    {
        var result = new JsonObject();
        foreach (var (key, value) in o)
        {
            var name = Text(key);
            // two keys redacted alike
            for (int n = 2; result.ContainsKey(name); n++)
                name = $"{Text(key)}#{n}";
            result[name] = Redact(value);
        }
        return result;
    }

    static JsonNode? TryParse(string raw)
    {
        try
        {
            return JsonNode.Parse(raw, documentOptions: new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static string Clip(string raw) => raw.Length <= UnredactedPrefix ? raw : raw[..UnredactedPrefix] + "…";
}
