// The evaluation report after a run (evaluation/report.md for a person, comparison.json for programs): the decision,
// every metric both models have — baseline and candidate with their 95% intervals, the change, and the gate rule that
// judged it if one did — then the test examples where the candidate got worse, the largest drops first (per-example
// ROUGE-L F1 of the answer against the reference), each with its prompt, reference and both answers.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Gate;

public static class ComparisonReport
{
    public sealed record Regression(long Line, string Prompt, string Reference, string Baseline, string Candidate,
        double BaselineScore,
        double CandidateScore);

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string Markdown(EvalReport baseline, EvalReport candidate, GateDecision decision, string title,
        int worst = 5)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {title}: {(decision.Promote ? "promote" : "keep the baseline")}").AppendLine();
        var rules = decision.Checks.ToDictionary(c => c.Metric);
        var before = baseline.Metrics.ToDictionary(m => m.Name);
        md.AppendLine("| metric | baseline (95% CI) | candidate (95% CI) | change | gate |");
        md.AppendLine("|---|---:|---:|---:|---|");
        foreach (var after in candidate.Metrics)
        {
            var base_ = before.GetValueOrDefault(after.Name);
            string change = base_ is null ? "" : (after.Value - base_.Value).ToString("+0.0000;-0.0000;0",
                CultureInfo.InvariantCulture);
            string gate = rules.TryGetValue(after.Name,
                out var check) ? $"{(check.Passed ? "pass" : "FAIL")}: {check.Reason}" : "";
            md.AppendLine($"| {after.Name} | {Value(base_)} | {Value(after)} | {change} | {gate} |");
        }
        foreach (var check in decision.Checks.Where(c => !candidate.Metrics.Any(m => m.Name == c.Metric)))
            md.AppendLine($"| {check.Metric} | | | | FAIL: {check.Reason} |");
        if (decision.Notes.Count > 0)
        {
            md.AppendLine().AppendLine("Notes:");
            foreach (var note in decision.Notes)
                md.AppendLine($"- {note}");
        }

        var regressions = Regressions(baseline, candidate).Take(worst).ToList();
        md.AppendLine()
            .AppendLine($"## Where the candidate got worse " +
            $"({(regressions.Count == 0 ? "no example" : $"the {regressions.Count} largest drops")})");
        foreach (var r in regressions)
        {
            md.AppendLine()
                .AppendLine($"### test line {r.Line}: ROUGE-L {r.BaselineScore:0.00} → {r.CandidateScore:0.00}");
            md.AppendLine($"- prompt: {Quote(r.Prompt)}");
            md.AppendLine($"- reference: {Quote(r.Reference)}");
            md.AppendLine($"- baseline: {Quote(r.Baseline)}");
            md.AppendLine($"- candidate: {Quote(r.Candidate)}");
        }
        return md.ToString();
    }

    /// <summary>The report as JSON: title, promote, metrics (name, baseline and candidate {value, low, high, count},
    /// change, gate {passed, reason}), gate checks on metrics the candidate lacks, notes, and the
    /// regressions.</summary>
    public static JsonObject ToJson(EvalReport baseline, EvalReport candidate, GateDecision decision, string title,
        int worst = 5)
    {
        var rules = decision.Checks.ToDictionary(c => c.Metric);
        var before = baseline.Metrics.ToDictionary(m => m.Name);
        JsonNode? Metric(MetricValue? m) => m is null ? null : new JsonObject
        {
            ["value"] = m.Value, ["low"] = Finite(m.Low), ["high"] = Finite(m.High), ["count"] = m.Count,
        };
        JsonNode? Gate(string name) => rules.TryGetValue(name, out var check)
            ? new JsonObject { ["passed"] = check.Passed, ["reason"] = check.Reason } : null;
        var metrics = new JsonArray();
        foreach (var after in candidate.Metrics)
        {
            var base_ = before.GetValueOrDefault(after.Name);
            metrics.Add(new JsonObject
            {
                ["name"] = after.Name, ["baseline"] = Metric(base_), ["candidate"] = Metric(after),
                ["change"] = base_ is null ? null : after.Value - base_.Value, ["gate"] = Gate(after.Name),
            });
        }
        var missing = new JsonArray();
        foreach (var check in decision.Checks.Where(c => !candidate.Metrics.Any(m => m.Name == c.Metric)))
        {
            missing.Add(new JsonObject
            {
                ["metric"] = check.Metric, ["passed"] = check.Passed, ["reason"] = check.Reason,
            });
        }
        var regressions = new JsonArray();
        foreach (var r in Regressions(baseline, candidate).Take(worst))
        {
            regressions.Add(new JsonObject
            {
                ["line"] = r.Line, ["prompt"] = r.Prompt, ["reference"] = r.Reference, ["baseline"] = r.Baseline,
                ["candidate"] = r.Candidate, ["baseline_rougeL"] = r.BaselineScore,
                ["candidate_rougeL"] = r.CandidateScore,
            });
        }
        return new JsonObject
        {
            ["title"] = title, ["promote"] = decision.Promote, ["metrics"] = metrics,
            ["checks_without_metric"] = missing,
            ["notes"] = new JsonArray(decision.Notes.Select(n => (JsonNode?)n).ToArray()),
            ["regressions"] = regressions,
        };
    }

    static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    /// <summary>The examples both models answered (the generated answers of the rouge or task suite), where the
    /// candidate's answer scores lower than the baseline's, largest drop first.</summary>
    public static IEnumerable<Regression> Regressions(EvalReport baseline, EvalReport candidate)
    {
        var before = Outputs(baseline);
        var after = Outputs(candidate);
        return after.Where(a => before.ContainsKey(a.Key)).Select(a =>
            {
                var (b, c) = (before[a.Key], a.Value);
                return new Regression(a.Key, c.Prompt, c.Reference, b.Prediction, c.Prediction,
                    Rouge.Score(b.Reference, b.Prediction).RougeL.FMeasure, Rouge.Score(c.Reference,
                        c.Prediction).RougeL.FMeasure);
            })
            .Where(r => r.CandidateScore < r.BaselineScore)
            .OrderByDescending(r => r.BaselineScore - r.CandidateScore).ThenBy(r => r.Line);
    }

    sealed record Output(string Prompt, string Reference, string Prediction);

    static Dictionary<long, Output> Outputs(EvalReport report)
    {
        var outputs = new Dictionary<long, Output>();
        foreach (var suite in report.Suites.Where(s => s.Suite is "task" or "rouge" or "bleu" or "chrf"
            && s.Details is not null))
        {
            var details = suite.Details is JsonNode node ? node : JsonSerializer.SerializeToNode(suite.Details, Json);
            if (details?["outputs"] is not JsonArray items)
                continue;
            foreach (var item in items.OfType<JsonObject>())
            {
                if (item["line"]?.GetValue<long>() is not { } line || outputs.ContainsKey(line))
                    continue;
                var prompt = item["prompt"] is JsonArray messages && messages.LastOrDefault(m
                    => m?["role"]?.GetValue<string>() == "user") is { } user
                    ? user["content"]?.GetValue<string>() ?? "" : "";
                outputs[line] = new Output(prompt, item["reference"]?.GetValue<string>() ?? "",
                    item["prediction"]?.GetValue<string>() ?? "");
            }
        }
        return outputs;
    }

    static string Value(MetricValue? m) => m is null ? ""
        : m.Low is { } low && m.High is { } high && double.IsFinite(low) && double.IsFinite(high)
            ? FormattableString.Invariant($"{m.Value:0.0000} [{low:0.0000}, {high:0.0000}]")
            : m.Value.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>One line of inline code, at most 300 characters; backticks and line breaks cannot break the
    /// Markdown.</summary>
    static string Quote(string text)
    {
        var flat = text.Replace('\n', ' ').Replace('\r', ' ').Replace('`', '\'');
        if (flat.Length > 300)
            flat = flat[..300] + "…";
        return $"`{flat}`";
    }
}
