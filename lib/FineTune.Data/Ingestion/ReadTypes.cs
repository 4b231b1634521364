// What DatasetReader takes and yields: options, the detected layout, and one item per input record
// (Accepted or Rejected) followed by a single SourceSummary. Mappings are documented in README.md beside this file.
namespace FineTune.Data.Ingestion;

/// <summary>How records are stored in the file, independent of their fields.</summary>
public enum ContainerKind { Auto, Jsonl, JsonArray, Csv, TextLines, Parquet }

/// <summary>One item of <see cref="DatasetReader.ReadAsync"/>.</summary>
public abstract record ReadItem;

/// <summary>A record that parsed and validated; Raw is its source text (a JSONL line, a JSON element, a CSV row, a
/// Parquet row as JSON).</summary>
public sealed record Accepted(DataRecord Record, string Raw) : ReadItem;

/// <summary>A record that did not make it, with the reason.</summary>
public sealed record Rejected(Rejection Rejection) : ReadItem;

/// <summary>
/// The last item of every read: what was detected and what was noticed about the file as a whole.
/// It is not a record; <see cref="ValidationReport.Add"/> turns it into warnings.
/// </summary>
public sealed record SourceSummary(Detection Detection, bool Utf8Bom, bool CrlfLineEndings, long BlankLines) : ReadItem;

/// <summary>
/// The layout of a file. DetectedAtLine is the record the format was read from, or null when the format was
/// declared in <see cref="ReadOptions.Format"/> or guessed (<see cref="FormatGuessed"/>: no record had known fields).
/// </summary>
public sealed record Detection(ContainerKind Container, SourceFormat Format, bool Gzip, long? DetectedAtLine,
    bool FormatGuessed = false);

public sealed record ReadOptions
{
    /// <summary>Auto detects from the first records (up to <see cref="DetectionRecords"/>).</summary>
    public SourceFormat Format { get; init; } = SourceFormat.Auto;

    /// <summary>
    /// Auto decides from the first bytes (gzip, then Parquet's 'PAR1'), then the extension (.parquet, .csv, .tsv, .txt,
    /// after a .gz), then the first non-blank byte ('[' is a JSON array, anything else JSON Lines).
    /// </summary>
    public ContainerKind Container { get; init; } = ContainerKind.Auto;

    /// <summary>A record (line, JSON element, CSV row) larger than this is rejected as record_too_large.</summary>
    public int MaxRecordBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>How many records auto-detection looks at before it guesses chat.</summary>
    public int DetectionRecords { get; init; } = 100;

    /// <summary>CSV layout: header row or fixed column names, delimiter, and an optional row transform.</summary>
    public CsvOptions Csv { get; init; } = new();
}

/// <summary>
/// CSV layout. With Header the first row names the columns; otherwise <see cref="Columns"/> does. Column names are
/// the JSON field names (instruction, prompt, messages …); a messages/conversations/chosen/rejected cell that holds a
/// JSON array is read as that array. Transform, when set, rewrites each row's named cells before mapping.
/// </summary>
public sealed record CsvOptions
{
    public bool Header { get; init; } = true;
    public IReadOnlyList<string>? Columns { get; init; }
    public char Delimiter { get; init; } = ',';
    public Func<IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, string>>? Transform { get; init; }

    /// <summary>
    /// The MMLU CSVs (no header; question, A, B, C, D, answer) as prompt/completion:
    /// prompt = question + "\n" + "A. …\nB. …\nC. …\nD. …", completion = the answer letter.
    /// Use with <c>Format = SourceFormat.PromptCompletion</c>.
    /// </summary>
    public static CsvOptions Mmlu { get; } = new()
    {
        Header = false,
        Columns = ["question", "A", "B", "C", "D", "answer"],
        Transform = row => new Dictionary<string, string>
        {
            ["prompt"] = $"{row["question"]}\nA. {row["A"]}\nB. {row["B"]}\nC. {row["C"]}\nD. {row["D"]}",
            ["completion"] = row["answer"].Trim(),
        },
    };
}
