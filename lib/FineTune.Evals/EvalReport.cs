// The results file of `finetune eval` (and the evaluation service): which model, which suites with their prompt-format
// versions, every metric. The gate reads two of these, so numbers are only compared when the formats match.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Evals;

public sealed record EvalReport(string Model, DateTimeOffset Created, IReadOnlyList<SuiteResult> Suites)
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public IEnumerable<MetricValue> Metrics => Suites.SelectMany(s => s.Metrics);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static EvalReport Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"evaluation results not found: '{path}' (run finetune eval first).", path);
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path)) ?? throw new JsonException("empty document");
            var suites = node["suites"]?.AsArray().Select(s => new SuiteResult(
                s!["suite"]!.GetValue<string>(),
                s["format_version"]!.GetValue<string>(),
                s["metrics"]!.AsArray().Select(m => new MetricValue(
                    m!["name"]!.GetValue<string>(), m["value"]!.GetValue<double>(), m["count"]!.GetValue<long>(),
                    m["low"]?.GetValue<double>(), m["high"]?.GetValue<double>())).ToList())).ToList()
                ?? throw new JsonException("field 'suites' is missing");
            return new EvalReport(node["model"]?.GetValue<string>() ?? "", node["created"]?.GetValue<DateTimeOffset>() ?? default, suites);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{path}: not an evaluation results file ({e.Message}).");
        }
    }

    /// <summary>Suites present in both reports whose prompt formats differ: their numbers must not be compared.</summary>
    public static IEnumerable<string> FormatMismatches(EvalReport a, EvalReport b) =>
        a.Suites.Join(b.Suites, s => s.Suite, s => s.Suite, (x, y) => (x, y))
            .Where(p => p.x.FormatVersion != p.y.FormatVersion)
            .Select(p => $"{p.x.Suite}: {p.x.FormatVersion} vs {p.y.FormatVersion}");
}
