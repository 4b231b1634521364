// The built-in reward functions over a completion's text, each 0 or 1 unless said otherwise:
//   json_valid   the completion is one JSON object (nothing around it but white space)
//   schema_valid it is, and has the fields and kinds of a JSON Schema file, or else of the reference answer
//   field_match  the share of fields (all of the reference's, or the listed ones) equal to the reference's, as the
//                task suite compares them (strings normalised); 0 when the completion is not a JSON object
//   gsm8k        the final answer after "#### " equals the reference's (GSM8K's strict extraction)
//   regex        the completion matches the pattern (.NET syntax, 100 ms limit per match)
//   length       −penalty per token beyond target (0 within it)
using System.Text.RegularExpressions;
using FineTune.Evals.Scoring;

namespace FineTune.Training.Rewards;

static class Snippet
{
    public static string Clip(string text) => text.Length <= 80 ? text : text[..80] + "…";
}

public sealed class JsonValidReward : PerCompletionReward
{
    public override string Name => "json_valid";

    protected override double Score(RewardContext c) => TaskAnswers.ParseObject(Text(c)) is null ? 0 : 1;
}

public sealed class SchemaValidReward(string? schemaPath) : PerCompletionReward
{
    readonly TaskSchema? _schema = schemaPath is null ? null : TaskSchema.Load(schemaPath);

    public override string Name => "schema_valid";

    protected override double Score(RewardContext c)
    {
        var answer = TaskAnswers.ParseObject(Text(c));
        if (answer is null)
            return 0;
        var schema = _schema ?? TaskSchema.Infer([Reference(c)])
            ?? throw new InvalidDataException("reward 'schema_valid' without a schema file needs reference answers " +
                $"that are JSON objects; one is: {Snippet.Clip(Reference(c))}");
        return schema.Accepts(answer) ? 1 : 0;
    }
}

public sealed class FieldMatchReward(IReadOnlyList<string>? fields) : PerCompletionReward
{
    public override string Name => "field_match";

    protected override double Score(RewardContext c)
    {
        var reference = TaskAnswers.ParseObject(Reference(c))
            ?? throw new InvalidDataException("reward 'field_match' needs reference answers that are JSON objects " +
                "(the dataset's assistant answers, as the tokenizer decodes them); one is: " +
                Snippet.Clip(Reference(c)));
        var answer = TaskAnswers.ParseObject(Text(c));
        var compared = fields ?? reference.Select(p => p.Key).ToList();
        if (answer is null || compared.Count == 0)
            return 0;
        return compared.Count(f => TaskAnswers.Value(answer, f) is { } v && v == TaskAnswers.Value(reference, f))
            / (double)compared.Count;
    }
}

public sealed class Gsm8kReward : PerCompletionReward
{
    public override string Name => "gsm8k";

    protected override double Score(RewardContext c)
    {
        var (strict, _) = Gsm8kAnswers.Extract(Text(c), Gsm8kFormat.Gsm8k);
        return Gsm8kAnswers.IsCorrect(strict, Gsm8kAnswers.Gold(Reference(c))) ? 1 : 0;
    }
}

public sealed class RegexReward(string pattern) : PerCompletionReward
{
    const int MaxPatternLength = 1000;
    readonly Regex _regex = new(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));

    public override string Name => "regex";

    /// <summary>Why a pattern cannot be used, or null when it can.</summary>
    public static string? Check(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern))
            return "is required for a regex reward";
        if (pattern.Length > MaxPatternLength)
            return $"is {pattern.Length} characters; at most {MaxPatternLength}";
        try
        {
            _ = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            return null;
        }
        catch (ArgumentException e)
        {
            return $"is not a valid regular expression ({e.Message})";
        }
    }

    protected override double Score(RewardContext c)
    {
        try
        {
            return _regex.IsMatch(Text(c)) ? 1 : 0;
        }
        catch (RegexMatchTimeoutException)
        {
            return 0;   // a completion built to make the pattern backtrack earns nothing
        }
    }
}

public sealed class LengthReward(int target, double penalty) : PerCompletionReward
{
    public override string Name => "length";

    protected override double Score(RewardContext c) => -penalty * Math.Max(0, c.CompletionIds.Length - target);
}
