// What ingestion tells a user about their data, built item by item from DatasetReader.ReadAsync: counts, rejects by
// code with first examples, file warnings, token statistics, and the pass/fail verdict. Rendering is in
// ValidationReport.Format.cs.
using static System.FormattableString;

namespace FineTune.Data.Ingestion;

/// <summary>Tokens per usable example (records over maxTokens excluded) and the training volume they imply.</summary>
public sealed record TokenStats(int Min, double Mean, int P95, int Max, long Total, int Epochs)
{
    public long EstimatedTrainingTokens => Total * Epochs;
}

public sealed record ValidationVerdict(bool Ok, string Message);

/// <param name="countTokens">Counts the tokens of an accepted record (as the training template renders it).</param>
/// <param name="maxTokens">Accepted records with more tokens become too_long rejects in this report.</param>
/// <param name="epochs">Multiplies the token total into <see cref="TokenStats.EstimatedTrainingTokens"/>.</param>
/// <param name="examplesPerCode">How many rejections of each code are kept for display.</param>
/// <param name="redact">Applied to a rejection before it is kept as an example (PII redaction, see
/// RejectRedactor).</param>
/// <param name="specialTokenTexts">Control-token texts to warn about in content (a model's own; default: the common
/// ones).</param>
public sealed partial class ValidationReport(
    Func<DataRecord, int>? countTokens = null, int? maxTokens = null, int epochs = 1, int examplesPerCode = 3,
    Func<Rejection, Rejection>? redact = null, IReadOnlyCollection<string>? specialTokenTexts = null)
{
    /// <summary>Warning code: a record's content holds control-token text. It is encoded as that text, never as a
    /// control token, so it cannot end a turn or forge one — but the model learns to write it.</summary>
    public const string SpecialTokenTextCode = "special_token_text";

    /// <summary>The control tokens of the chat formats we support (ChatML, Llama 2/3, Mistral, GPT-style end of
    /// text).</summary>
    public static readonly IReadOnlyList<string> CommonSpecialTokenTexts =
    [
        "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
            "<|end_header_id|>",
        "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|python_tag|>", "<s>", "</s>",
    ];

    readonly string[] _specialTexts = [.. (specialTokenTexts ?? CommonSpecialTokenTexts).Where(t => t.Length > 1)];
    readonly List<long> _specialTextLines = [];
    long _specialTextRecords;
    readonly SortedDictionary<string, long> _byCode = new(StringComparer.Ordinal);
    readonly SortedDictionary<string, List<Rejection>> _examples = new(StringComparer.Ordinal);
    readonly List<int> _tokens = [];

    public long InputRecords { get; private set; }
    public long AcceptedRecords { get; private set; }
    public long RejectedRecords { get; private set; }
    public Detection? Detection { get; private set; }
    public bool Utf8Bom { get; private set; }
    public bool CrlfLineEndings { get; private set; }
    public long BlankLines { get; private set; }

    public IReadOnlyDictionary<string, long> RejectedByCode => _byCode;
    public IReadOnlyDictionary<string, List<Rejection>> Examples => _examples;
    public double RejectRatio => InputRecords == 0 ? 0 : (double)RejectedRecords / InputRecords;

    /// <summary>Things about the file worth fixing that did not cost any record.</summary>
    public IReadOnlyList<string> Warnings
    {
        get
        {
            var warnings = new List<string>();
            if (Utf8Bom)
                warnings.Add("the file starts with a UTF-8 byte-order mark (stripped); save it as UTF-8 without BOM");
            if (CrlfLineEndings)
                warnings.Add("CRLF (Windows) line endings (accepted)");
            if (BlankLines > 0)
                warnings.Add(Invariant($"{BlankLines:N0} blank line{(BlankLines == 1 ? "" : "s")} skipped"));
            if (Detection is { FormatGuessed: true })
                warnings.Add("no record had the fields of a known format; the file was checked as chat (messages)");
            if (_specialTextRecords > 0)
                warnings.Add(Invariant($"{SpecialTokenTextCode}: {_specialTextRecords:N0} ") +
                    Invariant($"record{(_specialTextRecords == 1 ? "" : "s")} contain control-token text ") +
                             Invariant($"(first at line{(_specialTextLines.Count == 1 ? "" : "s")} ") +
                                 Invariant($"{string.Join(", ", _specialTextLines)}); it is trained and served ") +
                             "as plain text, never as a control token, so the model learns to write it");
            return warnings;
        }
    }

    /// <summary>Records whose content holds control-token text (warning <see cref="SpecialTokenTextCode"/>).</summary>
    public long SpecialTokenTextRecords => _specialTextRecords;

    public TokenStats? Tokens
    {
        get
        {
            if (_tokens.Count == 0)
                return null;
            var sorted = _tokens.Order().ToArray();
            var total = _tokens.Sum(t => (long)t);
            var p95 = sorted[Math.Max(0, (int)Math.Ceiling(0.95 * sorted.Length) - 1)];
            return new TokenStats(sorted[0], (double)total / sorted.Length, p95, sorted[^1], total, epochs);
        }
    }

    /// <summary>
    /// Counts one item. Returns it, or for an accepted record over maxTokens the too_long rejection it became
    /// (so a caller can write it to rejects.jsonl). A SourceSummary sets the detection and warnings.
    /// </summary>
    public ReadItem Add(ReadItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        switch (item)
        {
            case SourceSummary summary:
                Detection = summary.Detection;
                Utf8Bom = summary.Utf8Bom;
                CrlfLineEndings = summary.CrlfLineEndings;
                BlankLines = summary.BlankLines;
                return item;
            case Rejected rejected:
                InputRecords++;
                Reject(rejected.Rejection);
                return item;
            case Accepted accepted:
                InputRecords++;
                NoteSpecialTokenText(accepted.Record);
                if (countTokens is null)
                {
                    AcceptedRecords++;
                    return item;
                }
                var tokens = countTokens(accepted.Record);
                if (tokens > maxTokens)
                {
                    var tooLong = new Rejection(accepted.Record.Line, RejectCodes.TooLong,
                        Invariant($"{tokens:N0} tokens; the limit is {maxTokens:N0}"), accepted.Raw);
                    Reject(tooLong);
                    return new Rejected(tooLong);
                }
                AcceptedRecords++;
                _tokens.Add(tokens);
                return item;
            default:
                throw new ArgumentException($"unknown item type {item.GetType().Name}", nameof(item));
        }
    }

    void NoteSpecialTokenText(DataRecord record)
    {
        if (_specialTexts.Length == 0)
            return;
        var texts = record.Messages.Concat(record.Chosen ?? []).Concat(record.Rejected ?? []).Select(m =>
            m.Content).Append(record.Text ?? "");
        if (!texts.Any(t => _specialTexts.Any(s => t.Contains(s, StringComparison.Ordinal))))
            return;
        _specialTextRecords++;
        if (_specialTextLines.Count < 5)
            _specialTextLines.Add(record.Line);
    }

    void Reject(Rejection rejection)
    {
        RejectedRecords++;
        _byCode[rejection.Code] = _byCode.GetValueOrDefault(rejection.Code) + 1;
        if (!_examples.TryGetValue(rejection.Code, out var list))
            _examples[rejection.Code] = list = [];
        if (list.Count < examplesPerCode)
            list.Add(redact?.Invoke(rejection) ?? rejection);
    }

    /// <summary>
    /// Fails with fewer than <paramref name="minExamples"/> usable examples, or when more than
    /// <paramref name="maxRejectRatio"/> of the records were rejected; the message says which and by how much.
    /// </summary>
    public ValidationVerdict Passed(double maxRejectRatio, int minExamples = 10)
    {
        if (AcceptedRecords < minExamples)
            return new(false,
                Invariant($"only {AcceptedRecords:N0} usable examples; at least {minExamples:N0} are needed"));
        if (RejectRatio > maxRejectRatio)
            return new(false,
                Invariant($"{Pct(RejectRatio)} of the records were rejected ({RejectedRecords:N0} of ") +
                Invariant($"{InputRecords:N0}); the limit is {Pct(maxRejectRatio)}")
                + (_byCode.Count > 0 ? $"; most often {_byCode.MaxBy(p => p.Value).Key}" : ""));
        return new(true,
            Invariant($"{AcceptedRecords:N0} usable examples; {RejectedRecords:N0} rejected ({Pct(RejectRatio)}, ") +
            Invariant($"limit {Pct(maxRejectRatio)})"));
    }
}
