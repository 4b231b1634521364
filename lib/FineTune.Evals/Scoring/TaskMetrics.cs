// The task suite's metrics: each answer scored as the task's own output format says, beside its reference.
//   task/exact_match        the normalised answer equals the reference (JSON: same keys, same normalised values)
// Where every reference is a JSON object (the shipped demo's {"category", "priority", "summary"}):
//   task/json_valid         the answer is a JSON object and nothing else
//   task/schema_valid       it has every field of the schema, each with its kind of value
//   task/<field>_accuracy   per field, the normalised value equals the reference's (missing or invalid: wrong)
//   task/<field>_macro_f1   for a label field (few distinct reference values): macro-F1 over the reference labels,
//                           with its confusion matrix in the details
//   task/<field>_rougeL     for a free-text string field: ROUGE-L F1 of the two strings
// Otherwise, where the references take few distinct values (a classification): task/accuracy and task/macro_f1.
// Proportions carry Wilson intervals, the rest percentile-bootstrap intervals (fixed seed).
using System.Text.Json.Nodes;

namespace FineTune.Evals.Scoring;

public static class TaskMetrics
{
    public const string FormatVersion = "task-v1";
    /// <summary>A field (or a whole answer) is a label when its references take at most this many distinct values and
    /// at most half as many as there are items.</summary>
    public const int MaxLabels = 20;
    /// <summary>At most this many fields are scored (the rest are named in the details).</summary>
    public const int MaxFields = 32;

    /// <summary>Scores (reference, prediction) pairs; <paramref name="schema"/>: the answers' fields (inferred from the
    /// references when null).</summary>
    public static (IReadOnlyList<MetricValue> Metrics, JsonObject Details) Score(
        IReadOnlyList<(string Reference, string Prediction)> pairs, TaskSchema? schema = null)
    {
        var metrics = new List<MetricValue>();
        var details = new JsonObject();
        int n = pairs.Count;
        var references = pairs.Select(p => TaskAnswers.ParseObject(p.Reference)).ToList();
        var predictions = pairs.Select(p => TaskAnswers.ParseObject(p.Prediction)).ToList();
        bool json = n > 0 && references.All(r => r is not null);

        var exact = pairs.Select((p, i) => json
            ? predictions[i] is { } pred && TaskAnswers.Canonical(pred) == TaskAnswers.Canonical(references[i]!)
            : TaskAnswers.Normalize(p.Prediction) == TaskAnswers.Normalize(p.Reference)).ToList();
        metrics.Add(Proportion("task/exact_match", exact));
        if (!json)
        {
            var gold = pairs.Select(p => TaskAnswers.Normalize(p.Reference)).ToList();
            if (IsLabel(gold))
            {
                var predicted = pairs.Select(p => (string?)TaskAnswers.Normalize(p.Prediction)).ToList();
                metrics.Add(Proportion("task/accuracy", exact));
                metrics.Add(MacroF1("task/macro_f1", gold, predicted));
                details["confusion"] = Confusion(gold, predicted);
            }
            return (metrics, details);
        }

        schema ??= TaskSchema.Infer(pairs.Select(p => p.Reference));
        metrics.Add(Proportion("task/json_valid", predictions.Select(p => p is not null).ToList()));
        if (schema is null)
            return (metrics, details);
        details["schema"] = schema.ToJson();
        metrics.Add(Proportion("task/schema_valid",
            predictions.Select(p => p is not null && schema.Accepts(p)).ToList()));

        var fields = new JsonObject();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (field, kind) in schema.Fields.Take(MaxFields))
        {
            var name = MetricName(field, names);
            var gold = references.Select(r => TaskAnswers.Value(r, field) ?? "").ToList();
            var predicted = predictions.Select(p => TaskAnswers.Value(p, field)).ToList();
            metrics.Add(Proportion($"task/{name}_accuracy", gold.Select((g, i) => predicted[i] == g).ToList()));
            var about = new JsonObject { ["field"] = field, ["kind"] = kind.ToString().ToLowerInvariant() };
            if (IsLabel(gold))
            {
                metrics.Add(MacroF1($"task/{name}_macro_f1", gold, predicted));
                about["role"] = "label";
                about["confusion"] = Confusion(gold, predicted);
            }
            else if (kind == FieldKind.String)
            {
                var rouge = pairs.Select((_, i) => predictions[i] is null ? 0.0
                    : Rouge.Score(TaskAnswers.Text(references[i], field), TaskAnswers.Text(predictions[i],
                        field)).RougeL.FMeasure).ToList();
                metrics.Add(Bootstrap.Mean($"task/{name}_rougeL", rouge));
                about["role"] = "text";
            }
            fields[name] = about;
        }
        details["fields"] = fields;
        if (schema.Fields.Count > MaxFields)
            details["fields_not_scored"] = new JsonArray(schema.Fields.Keys.Skip(MaxFields).Select(k =>
                (JsonNode?)k).ToArray());
        return (metrics, details);
    }

    static bool IsLabel(IReadOnlyList<string> gold)
    {
        int distinct = gold.Distinct(StringComparer.Ordinal).Count();
        return gold.Count >= 2 && distinct <= MaxLabels && distinct * 2 <= gold.Count;
    }

    static MetricValue Proportion(string name, IReadOnlyList<bool> hits)
    {
        long successes = hits.Count(h => h);
        var (low, high) = Wilson.Interval(successes, hits.Count);
        return hits.Count == 0 ? new MetricValue(name, 0, 0) : new MetricValue(name, (double)successes / hits.Count,
            hits.Count, low, high);
    }

    /// <summary>Macro-F1 over the labels the references use (a prediction outside them only costs recall and the
    /// precision of nothing), as scikit-learn's f1_score(average="macro", labels=reference labels).</summary>
    public static MetricValue MacroF1(string name, IReadOnlyList<string> gold, IReadOnlyList<string?> predicted)
    {
        var labels = gold.Distinct(StringComparer.Ordinal).ToArray();
        double F1(IReadOnlyList<int> items)
        {
            double sum = 0;
            foreach (var label in labels)
            {
                int tp = 0, fp = 0, fn = 0;
                foreach (var i in items)
                {
                    bool isGold = gold[i] == label, isPredicted = predicted[i] == label;
                    if (isGold && isPredicted)
                        tp++;
                    else if (isPredicted)
                        fp++;
                    else if (isGold)
                        fn++;
                }
                sum += tp + fp + fn == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn);
            }
            return labels.Length == 0 ? 0 : sum / labels.Length;
        }
        return Bootstrap.Statistic(name, gold.Count, F1);
    }

    /// <summary>Rows: reference labels; columns: the same labels, then "(other)" for anything else or
    /// nothing.</summary>
    static JsonObject Confusion(IReadOnlyList<string> gold, IReadOnlyList<string?> predicted)
    {
        var labels = gold.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var rows = new JsonArray();
        foreach (var label in labels)
        {
            var counts = new int[labels.Count + 1];
            for (int i = 0; i < gold.Count; i++)
                if (gold[i] == label)
                {
                    int column = predicted[i] is { } p ? labels.IndexOf(p) : -1;
                    counts[column < 0 ? labels.Count : column]++;
                }
            rows.Add(new JsonArray(counts.Select(c => (JsonNode?)c).ToArray()));
        }
        return new JsonObject
        {
            ["labels"] = new JsonArray(labels.Select(l => (JsonNode?)l).ToArray()),
            ["columns"] = new JsonArray([.. labels.Select(l => (JsonNode?)l), "(other)"]),
            ["matrix"] = rows,
        };
    }

    /// <summary>A field's name as it may appear in a metric name: lower-case letters, digits and '_', at most 40
    /// characters, unique (field names come from the data).</summary>
    static string MetricName(string field, HashSet<string> taken)
    {
        var clean = new string(field.ToLowerInvariant().Select(c
            => c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '_').ToArray());
        clean = clean.Length == 0 ? "field" : clean[..Math.Min(40, clean.Length)];
        var name = clean;
        for (int k = 2; !taken.Add(name); k++)
            name = $"{clean}_{k}";
        return name;
    }
}
