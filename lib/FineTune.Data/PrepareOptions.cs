// Everything `finetune data prepare` and the ingestion service can be told, bound from a JSON config file with
// snake_case keys; an unknown key or an impossible value is an error that names it.
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTune.Data.Cleaning;
using FineTune.Data.Ingestion;

namespace FineTune.Data;

public sealed record PrepareOptions
{
    public SourceFormat Format { get; init; } = SourceFormat.Auto;
    public CleaningOptions Cleaning { get; init; } = new();
    public bool ExactDuplicates { get; init; } = true;
    public NearDuplicateOptions NearDuplicates { get; init; } = new();
    public SplitOptions Split { get; init; } = new();
    public BalanceOptions Balance { get; init; } = new();
    public ReplayOptions Replay { get; init; } = new();
    /// <summary>The run fails when more than this share of the input is rejected.</summary>
    public double MaxRejectRatio { get; init; } = 0.2;
    public int MinExamples { get; init; } = 10;
    /// <summary>With PII redaction on, rejects.jsonl keeps each rejected record's text redacted (or only its length and
    /// hash when it cannot be redacted). True keeps the text as read — the data card says so.</summary>
    public bool KeepRawRejects { get; init; }

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static PrepareOptions Load(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new InvalidDatasetException($"config file not found: '{path}'.");
        return Parse(System.IO.File.ReadAllText(path), path);
    }

    /// <summary>Options from JSON text; <paramref name="source"/> names it in errors (a path, or a section of a larger
    /// file).</summary>
    public static PrepareOptions Parse(string json, string source)
    {
        PrepareOptions? options;
        try
        {
            options = JsonSerializer.Deserialize<PrepareOptions>(json, Json);
        }
        catch (JsonException e)
        {
            // System.Text.Json names the unknown member and the JSON path; keep both.
            throw new InvalidDatasetException($"{source}: {e.Message}");
        }
        options ??= new PrepareOptions();
        options.Validate(source);
        return options;
    }

    public void Validate(string source = "prepare options")
    {
        try
        {
            Cleaning.Validate();
            Split.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDatasetException($"{source}: {e.Message}");
        }
        if (MaxRejectRatio is < 0 or > 1)
            throw new InvalidDatasetException($"{source}: max_reject_ratio must be in [0, 1], got {MaxRejectRatio}.");
        if (MinExamples < 1)
            throw new InvalidDatasetException($"{source}: min_examples must be at least 1, got {MinExamples}.");
        if (NearDuplicates.Threshold is <= 0 or > 1)
            throw new InvalidDatasetException($"{source}: near_duplicates.threshold must be in (0, 1], got " +
                $"{NearDuplicates.Threshold}.");
        if (NearDuplicates.ShingleSize < 1)
            throw new InvalidDatasetException($"{source}: near_duplicates.shingle_size must be at least 1, got " +
                $"{NearDuplicates.ShingleSize}.");
        if (NearDuplicates.Enabled)
        {
            // permutations, bands and rows fit together
            try
            {
                _ = new NearDuplicateIndex(NearDuplicates);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDatasetException($"{source}: near_duplicates: {e.Message.Split(" (Parameter")[0]}");
            }
        }
        if (Replay.Fraction is < 0 or >= 1)
            throw new InvalidDatasetException($"{source}: replay.fraction must be in [0, 1), got {Replay.Fraction}.");
        if (Replay.Fraction > 0 && Replay.File is null)
            throw new InvalidDatasetException($"{source}: replay.fraction is set but replay.file is not.");
    }
}
