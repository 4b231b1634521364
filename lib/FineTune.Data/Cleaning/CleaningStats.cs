// Counters of the cleaning step: records seen/kept/rejected, how many records and fields each step changed,
// and how many PII items of each type were redacted. Not thread-safe: one instance per cleaning pass.
using System.Text;
using System.Text.Json;

namespace FineTune.Data.Cleaning;

public enum CleaningStep { Html, UnicodeNormalization, ControlCharacters, Whitespace, Pii }

/// <summary>Records: how many records the step changed (at least one field). Fields: how many content fields it
/// changed.</summary>
public sealed record StepCount(long Records, long Fields);

public sealed class CleaningStats
{
    static readonly CleaningStep[] AllSteps = Enum.GetValues<CleaningStep>();
    static readonly PiiType[] AllPii = Enum.GetValues<PiiType>();

    readonly long[] _stepRecords = new long[AllSteps.Length];
    readonly long[] _stepFields = new long[AllSteps.Length];
    readonly long[] _pii = new long[AllPii.Length];
    readonly SortedDictionary<string, long> _rejected = new(StringComparer.Ordinal);

    public long Records { get; private set; }
    public long Kept { get; private set; }
    /// <summary>Kept records that at least one step changed.</summary>
    public long Changed { get; private set; }
    public long RejectedTotal => Records - Kept;
    public IReadOnlyDictionary<string, long> Rejected => _rejected;

    public StepCount Step(CleaningStep step) => new(_stepRecords[(int)step], _stepFields[(int)step]);
    public long Redacted(PiiType type) => _pii[(int)type];

    internal void Add(bool[] stepChangedRecord, long[] stepFields, long[] pii, bool changed, string? rejectedCode)
    {
        Records++;
        for (var s = 0; s < AllSteps.Length; s++)
        {
            if (stepChangedRecord[s])
                _stepRecords[s]++;
            _stepFields[s] += stepFields[s];
        }
        for (var p = 0; p < AllPii.Length; p++)
            _pii[p] += pii[p];
        if (rejectedCode is null)
        {
            Kept++;
            if (changed)
                Changed++;
        }
        else
            _rejected[rejectedCode] = _rejected.GetValueOrDefault(rejectedCode) + 1;
    }

    public string ToJson(bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, RecordText.Compact with { Indented = indented }))
            WriteTo(w);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("records", Records);
        w.WriteNumber("kept", Kept);
        w.WriteNumber("changed", Changed);
        w.WriteStartObject("rejected");
        foreach (var (code, n) in _rejected)
            w.WriteNumber(code, n);
        w.WriteEndObject();
        w.WriteStartObject("steps");
        foreach (var step in AllSteps)
        {
            w.WriteStartObject(SnakeCase(step.ToString()));
            w.WriteNumber("records", _stepRecords[(int)step]);
            w.WriteNumber("fields", _stepFields[(int)step]);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartObject("pii_redacted");
        foreach (var type in AllPii)
            w.WriteNumber(SnakeCase(type.ToString()), _pii[(int)type]);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static string SnakeCase(string pascal) => JsonNamingPolicy.SnakeCaseLower.ConvertName(pascal);
}
