// Cleans every content field of a record (messages, chosen, rejected, text; roles untouched) in a fixed order:
// HTML → Unicode normalization → control characters → whitespace → PII, then applies the length bounds.
// Usage: var cleaner = new TextCleaner(options); foreach (var r in records) { var result = cleaner.Clean(r); ... }
// cleaner.Stats
using System.Diagnostics.CodeAnalysis;

namespace FineTune.Data.Cleaning;

/// <summary>Either the cleaned record or why it was dropped.</summary>
public sealed record CleanResult(DataRecord? Record, Rejection? Rejection)
{
    [MemberNotNullWhen(true, nameof(Record))]
    [MemberNotNullWhen(false, nameof(Rejection))]
    public bool IsKept => Record is not null;
}

public sealed class TextCleaner
{
    static readonly int StepCount = Enum.GetValues<CleaningStep>().Length;
    static readonly int PiiCount = Enum.GetValues<PiiType>().Length;

    readonly CleaningOptions _options;

    public TextCleaner(CleaningOptions? options = null)
    {
        _options = options ?? new CleaningOptions();
        _options.Validate();
    }

    public CleaningStats Stats { get; } = new();

    public CleanResult Clean(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var stepFields = new long[StepCount];
        var pii = new long[PiiCount];

        string CleanField(string text)
        {
            if (_options.StripHtml)
                text = Apply(text, CleaningStep.Html, HtmlStripper.Strip);
            text = Apply(text, CleaningStep.UnicodeNormalization,
                t => TextNormalizer.Normalize(t, _options.Normalization));
            if (_options.RemoveControlCharacters)
                text = Apply(text, CleaningStep.ControlCharacters, TextNormalizer.RemoveControlCharacters);
            if (_options.NormalizeWhitespace)
                text = Apply(text, CleaningStep.Whitespace, TextNormalizer.NormalizeWhitespace);
            if (_options.Pii.Any)
                text = Apply(text, CleaningStep.Pii, t => PiiRedactor.Redact(t, _options.Pii, pii));
            return text;
        }

        string Apply(string text, CleaningStep step, Func<string, string> transform)
        {
            var result = transform(text);
            if (!string.Equals(result, text, StringComparison.Ordinal))
                stepFields[(int)step]++;
            return result;
        }

        IReadOnlyList<Message>? CleanMessages(IReadOnlyList<Message>? messages) =>
            messages?.Select(m => m with { Content = CleanField(m.Content ?? "") }).ToArray();

        var cleaned = record with
        {
            Messages = CleanMessages(record.Messages)!,
            Chosen = CleanMessages(record.Chosen),
            Rejected = CleanMessages(record.Rejected),
            Text = record.Text is null ? null : CleanField(record.Text),
        };

        var rejection = Check(record, cleaned);
        var stepRecords = stepFields.Select(n => n > 0).ToArray();
        Stats.Add(stepRecords, stepFields, pii, changed: stepRecords.Any(c => c), rejection?.Code);
        return rejection is null ? new CleanResult(cleaned, null) : new CleanResult(null, rejection);
    }

    Rejection? Check(DataRecord original, DataRecord cleaned)
    {
        long total = 0;
        var fields = 0;
        foreach (var (path, _, content) in RecordText.Contents(cleaned))
        {
            fields++;
            if (string.IsNullOrWhiteSpace(content))
                return Reject(original, "missing_content", $"{path} is empty after cleaning; every turn needs text.",
                    path);
            total += content.Length;
        }
        if (fields == 0)
            return Reject(original, "missing_content", "the record has no content fields (no messages and no text).",
                null);
        if (total < _options.MinChars)
            return Reject(original, "too_short",
                $"{total} characters after cleaning, below Cleaning:MinChars = {_options.MinChars}.", null);
        if (total > _options.MaxChars)
            return Reject(original, "too_long_chars",
                $"{total} characters after cleaning, above Cleaning:MaxChars = {_options.MaxChars} (split the " +
                    $"document or raise the limit).", null);
        return null;
    }

    static Rejection Reject(DataRecord record, string code, string reason, string? field) =>
        new(record.Line, code, reason, FineTune.Data.Tokenization.NormalizedJsonl.Serialize(record), field);
}
