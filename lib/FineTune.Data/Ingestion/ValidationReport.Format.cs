// The validation report rendered for machines (ToJson: snake_case keys, System.Text.Json) and for people
// (ToText: a plain table for a console). Numbers use the invariant culture so output is the same everywhere.
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using static System.FormattableString;

namespace FineTune.Data.Ingestion;

public sealed partial class ValidationReport
{
    const int RawShown = 200;

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a report file, not HTML: keep non-ASCII readable
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(new
    {
        Source = Detection,
        InputRecords,
        Accepted = AcceptedRecords,
        Rejected = RejectedRecords,
        RejectRatio,
        RejectedByCode = _byCode,
        Warnings = new
        {
            Utf8Bom, CrlfLineEndings, BlankLines, SpecialTokenText = SpecialTokenTextRecords,
            Messages = Warnings
        },
        Examples = _examples.ToDictionary(p => p.Key, p => p.Value.Select(r => new
        {
            r.Line, r.Field, r.Reason, Raw = r.Kept == RawKept.Withheld ? null : Clip(r.Raw, 4 * RawShown),
            RawKept = r.Kept, r.RawBytes, r.RawSha256,
        })),
        Tokens = Tokens is { } t ? new
        {
            t.Min, t.Mean, t.P95, t.Max, t.Total, t.Epochs,
            t.EstimatedTrainingTokens
        } : null,
    }, JsonOptions);

    /// <summary>A table a person reads on a console: totals, rejects by code with the first examples, warnings,
    /// tokens.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        if (Detection is { } d)
            text.AppendLine(Invariant($"Format     {Name(d.Format)} in ") +
                Invariant($"{Name(d.Container)}{(d.Gzip ? " (gzip)" : "")}") +
                (d.DetectedAtLine is { } line ? Invariant($", detected from record {line}") : d.FormatGuessed
                    ? ", guessed" : ", declared"));
        Row(text, "Records", InputRecords, null);
        Row(text, "Accepted", AcceptedRecords, null);
        Row(text, "Rejected", RejectedRecords, Pct(RejectRatio));
        foreach (var (code, count) in _byCode)
        {
            Row(text, "  " + code, count, null);
            foreach (var r in _examples[code])
                text.AppendLine(Invariant($"      line {r.Line}: {r.Reason}")).AppendLine(r.Kept == RawKept.Withheld
                    ? Invariant($"        (text withheld: {r.RawBytes:N0} bytes, sha256 {r.RawSha256?[..12]}…)")
                    : $"        {Clip(r.Raw, RawShown).ReplaceLineEndings(" ")}");
        }
        foreach (var warning in Warnings)
            text.AppendLine($"Warning    {warning}");
        if (Tokens is { } t)
        {
            text.AppendLine(Invariant($"Tokens     per example: min {t.Min:N0}, mean {t.Mean:N1}, p95 {t.P95:N0}, ") +
                Invariant($"max {t.Max:N0}"));
            text.AppendLine(Invariant($"           total {t.Total:N0}; x {t.Epochs} ") +
                Invariant($"epoch{(t.Epochs == 1 ? "" : "s")} = {t.EstimatedTrainingTokens:N0} training tokens"));
        }
        return text.ToString();
    }

    static void Row(StringBuilder text, string name, long count, string? note) =>
        text.AppendLine(Invariant($"{name,-32}{count,12:N0}") + (note is null ? "" : $"  ({note})"));

    static string Name<T>(T value) where T : struct, Enum =>
        JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    static string Clip(string raw, int max) => raw.Length <= max ? raw : raw[..max] + "…";

    static string Pct(double ratio) => (ratio * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
