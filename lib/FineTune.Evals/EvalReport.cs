// The results file of `finetune eval` (and the evaluation service): which model, which suites with their prompt-format
// versions, every metric. The gate reads two of these, so numbers are only compared when the formats match.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Evals;

public sealed record EvalReport(string Model, DateTimeOffset Created, IReadOnlyList<SuiteResult> Suites)
{
    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower
    };

    public IEnumerable<MetricValue> Metrics => Suites.SelectMany(s => s.Metrics);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes the results file atomically (a temporary file renamed over it), so a kill never leaves half of
    /// one.</summary>
    public void Write(string path)
    {
        var full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { } dir)
            Directory.CreateDirectory(dir);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, full, overwrite: true);
    }

    /// <summary>What a reader of the numbers must know: suites that failed, and suites whose items mostly did not fit
    /// the model's context (truncated from the left). <paramref name="who"/> names the model in the sentence.</summary>
    public IEnumerable<string> Warnings(string who)
    {
        foreach (var s in Suites)
        {
            if (s.Error is { } error)
                yield return $"{who}: suite {s.Suite} failed: {error}";
            else if (s.MostlyTruncated)
                yield return $"{who}: {s.Truncated} of {s.Items} {s.Suite} items were longer than the model's " +
                    $"context and lost " +
                             "tokens from the left; the suite's numbers say little about the model";
        }
    }

    public static EvalReport Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path), path)
            : throw new FileNotFoundException($"evaluation results not found: '{path}' (run finetune eval first).",
                path);

    /// <summary>Reads a results document; <paramref name="source"/> names it in errors.</summary>
    public static EvalReport Parse(string json, string source = "results")
    {
        try
        {
            var node = JsonNode.Parse(json) ?? throw new JsonException("empty document");
            var suites = node["suites"]?.AsArray().Select(s => new SuiteResult(
                s!["suite"]!.GetValue<string>(),
                s["format_version"]!.GetValue<string>(),
                s["metrics"]!.AsArray().Select(m => new MetricValue(
                    m!["name"]!.GetValue<string>(), m["value"]!.GetValue<double>(), m["count"]!.GetValue<long>(),
                    m["low"]?.GetValue<double>(), m["high"]?.GetValue<double>())).ToList(),
                s["details"]?.DeepClone())
            {
                Items = s["items"]?.GetValue<int>() ?? 0,
                Truncated = s["truncated"]?.GetValue<int>() ?? 0,
                Error = s["error"]?.GetValue<string>(),
                Inputs = s["inputs"]?.GetValue<string>(),
            }).ToList()
                ?? throw new JsonException("field 'suites' is missing");
            return new EvalReport(node["model"]?.GetValue<string>() ?? "",
                node["created"]?.GetValue<DateTimeOffset>() ?? default, suites);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{source}: not an evaluation results file ({e.Message}).");
        }
    }

    /// <summary>Suites present in both reports whose prompt formats differ: their numbers must not be
    /// compared.</summary>
    public static IEnumerable<string> FormatMismatches(EvalReport a, EvalReport b) =>
        a.Suites.Join(b.Suites, s => s.Suite, s => s.Suite, (x, y) => (x, y))
            .Where(p => p.x.FormatVersion != p.y.FormatVersion)
            .Select(p => $"{p.x.Suite}: {p.x.FormatVersion} vs {p.y.FormatVersion}");
}
