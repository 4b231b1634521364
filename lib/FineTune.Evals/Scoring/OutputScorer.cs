// Scores saved model outputs (JSONL of prediction/reference[/id]) for `finetune score rouge|bleu|chrf|gsm8k|task
// FILE`: per-item scores in input order plus corpus aggregates (means, or BLEU/chrF on the whole corpus, with bootstrap
// 95% intervals) as one JSON document. For rouge, bleu and chrf a reference may be a list of references.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Evals.Scoring;

/// <summary>Which scorer `finetune score` runs.</summary>
public enum ScoreKind { Rouge, Gsm8k, Task, Bleu, Chrf }

public static class OutputScorer
{
    /// <summary>One input line: its 1-based line number, the two texts, and the id node when the line has
    /// one.</summary>
    public sealed record OutputLine(int Line, string Prediction, IReadOnlyList<string> References, JsonNode? Id)
    {
        /// <summary>The first (for gsm8k and task, the only) reference.</summary>
        public string Reference => References[0];
    }

    /// <summary>
    /// Scores <paramref name="path"/>. Result: {"kind", "count", "items": [...], "aggregate": {...}}; for rouge each
    /// item has rouge1/rouge2/rougeL/rougeLsum {precision, recall, fmeasure}, for gsm8k strict, flexible,
    /// strict_correct, flexible_correct; "id" is copied when the line has one. Aggregate metrics are {value, low, high,
    /// count}.
    /// </summary>
    public static JsonObject Score(ScoreKind kind, string path, bool stemmer = false,
        Gsm8kFormat format = Gsm8kFormat.Gsm8k,
        TaskSchema? schema = null)
    {
        var lines = Read(path);
        var many = lines.FirstOrDefault(l => l.References.Count > 1);
        if (kind is ScoreKind.Gsm8k or ScoreKind.Task && many is not null)
            throw new InvalidDataException($"{path}:{many.Line}: field \"reference\" is a list; several references " +
                $"are for rouge, bleu and chrf, {kind.ToString().ToLowerInvariant()} takes one string.");
        return kind switch
        {
            ScoreKind.Rouge => ScoreRouge(lines, stemmer),
            ScoreKind.Task => ScoreTask(lines, schema),
            ScoreKind.Bleu => ScoreBleu(lines),
            ScoreKind.Chrf => ScoreChrf(lines),
            _ => ScoreGsm8k(lines, format),
        };
    }

    /// <summary>The aggregate metrics alone (names like "rouge1/fmeasure", "gsm8k/exact_match,strict-match").</summary>
    public static IReadOnlyList<MetricValue> Metrics(JsonObject scored) =>
        scored["aggregate"]!.AsObject().Select(p => new MetricValue(p.Key,
            p.Value!["value"]!.GetValue<double>(), p.Value["count"]!.GetValue<long>(),
            p.Value["low"]?.GetValue<double>(), p.Value["high"]?.GetValue<double>())).ToList();

    /// <summary>Reads the JSONL file; blank lines are skipped; any other bad line throws naming file:line and the
    /// field.</summary>
    public static List<OutputLine> Read(string path)
    {
        var result = new List<OutputLine>();
        int number = 0;
        foreach (var text in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text))
                continue;
            JsonObject obj;
            try
            {
                obj = JsonNode.Parse(text) as JsonObject
                    ?? throw new InvalidDataException($"{path}:{number}: expected a JSON object.");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{number}: not valid JSON ({e.Message}).", e);
            }
            result.Add(new OutputLine(number, Field(obj, "prediction", path, number),
                References(obj, path, number), obj["id"]?.DeepClone()));
        }
        if (result.Count == 0)
            throw new InvalidDataException($"{path}: no lines to score.");
        return result;
    }

    static string Field(JsonObject obj, string name, string path, int line)
    {
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
            throw new InvalidDataException($"{path}:{line}: missing field \"{name}\".");
        if (node is not JsonValue value || !value.TryGetValue<string>(out var text))
            throw new InvalidDataException($"{path}:{line}: field \"{name}\" must be a string.");
        return text;
    }

    /// <summary>"reference": a string, or a non-empty list of strings.</summary>
    static IReadOnlyList<string> References(JsonObject obj, string path, int line)
    {
        if (obj["reference"] is not JsonArray list)
            return [Field(obj, "reference", path, line)];
        if (list.Count == 0)
            throw new InvalidDataException($"{path}:{line}: field \"reference\" is an empty list; give at least one.");
        var references = new List<string>(list.Count);
        foreach (var item in list)
        {
            if (item is not JsonValue value || !value.TryGetValue<string>(out var text))
                throw new InvalidDataException($"{path}:{line}: field \"reference\" must be a string or a list of " +
                    "strings.");
            references.Add(text);
        }
        return references;
    }

    static readonly string[] RougeNames = ["rouge1", "rouge2", "rougeL", "rougeLsum"];
    static readonly string[] PartNames = ["precision", "recall", "fmeasure"];

    static JsonObject ScoreRouge(List<OutputLine> lines, bool stemmer)
    {
        var items = new JsonArray();
        // values[variant][part] = per-item values, for the aggregate.
        var values = RougeNames.Select(_ => PartNames.Select(_ => new List<double>()).ToArray()).ToArray();
        foreach (var line in lines)
        {
            var s = BestRouge(line.References.Select(r => Rouge.Score(r, line.Prediction, stemmer)).ToList());
            RougeScore[] variants = [s.Rouge1, s.Rouge2, s.RougeL, s.RougeLsum];
            var item = NewItem(line);
            for (int v = 0; v < variants.Length; v++)
            {
                double[] parts = [variants[v].Precision, variants[v].Recall, variants[v].FMeasure];
                var scoreObject = new JsonObject();
                for (int p = 0; p < parts.Length; p++)
                {
                    scoreObject[PartNames[p]] = parts[p];
                    values[v][p].Add(parts[p]);
                }
                item[RougeNames[v]] = scoreObject;
            }
            items.Add(item);
        }
        var aggregate = new JsonObject();
        for (int v = 0; v < RougeNames.Length; v++)
            for (int p = 0; p < PartNames.Length; p++)
                Add(aggregate, Bootstrap.Mean($"{RougeNames[v]}/{PartNames[p]}", values[v][p]));
        return Document("rouge", lines.Count, items, aggregate, new JsonObject { ["stemmer"] = stemmer });
    }

    /// <summary>Several references: per variant the one with the best F-measure (rouge_score's
    /// score_multi).</summary>
    static RougeScores BestRouge(List<RougeScores> scores) => scores.Count == 1 ? scores[0] : new RougeScores(
        scores.Select(s => s.Rouge1).MaxBy(s => s.FMeasure), scores.Select(s => s.Rouge2).MaxBy(s => s.FMeasure),
        scores.Select(s => s.RougeL).MaxBy(s => s.FMeasure), scores.Select(s => s.RougeLsum).MaxBy(s => s.FMeasure));

    /// <summary>BLEU: sentence BLEU per item (effective order, as sentence_bleu); the aggregate is corpus BLEU with a
    /// bootstrap interval over lines, and sacrebleu's signature and score line.</summary>
    static JsonObject ScoreBleu(List<OutputLine> lines)
    {
        var items = new JsonArray();
        var stats = new BleuStatistics[lines.Count];
        for (int i = 0; i < lines.Count; i++)
        {
            stats[i] = Bleu.Statistics(lines[i].Prediction, lines[i].References);
            var item = NewItem(lines[i]);
            item["bleu"] = Bleu.Compute(stats[i], effectiveOrder: true).Score;
            items.Add(item);
        }
        BleuScore Corpus(IReadOnlyList<int> indices) => Bleu.Corpus(stats, indices);
        var corpus = Corpus(Enumerable.Range(0, lines.Count).ToArray());
        var aggregate = new JsonObject();
        Add(aggregate, Bootstrap.Statistic("bleu/score", lines.Count, indices => Corpus(indices).Score));
        var signature = Bleu.Signature(lines.Select(l => l.References), effectiveOrder: false);
        return Document("bleu", lines.Count, items, aggregate, new JsonObject
        {
            ["signature"] = signature, ["score_line"] = corpus.Format(signature),
            ["precisions"] = new JsonArray(corpus.Precisions.Select(p => (JsonNode)p).ToArray()),
            ["brevity_penalty"] = corpus.BrevityPenalty, ["hyp_len"] = corpus.Statistics.HypothesisLength,
            ["ref_len"] = corpus.Statistics.ReferenceLength,
        });
    }

    /// <summary>chrF: sentence chrF per item; the aggregate is corpus chrF with a bootstrap interval over
    /// lines.</summary>
    static JsonObject ScoreChrf(List<OutputLine> lines)
    {
        var items = new JsonArray();
        var stats = new long[lines.Count][];
        for (int i = 0; i < lines.Count; i++)
        {
            stats[i] = Chrf.Statistics(lines[i].Prediction, lines[i].References);
            var item = NewItem(lines[i]);
            item["chrf"] = Chrf.FScore(stats[i]);
            items.Add(item);
        }
        var aggregate = new JsonObject();
        var metric = Bootstrap.Statistic("chrf/score", lines.Count, indices => Chrf.Corpus(stats, indices));
        Add(aggregate, metric);
        var signature = Chrf.Signature(lines.Select(l => l.References));
        return Document("chrf", lines.Count, items, aggregate, new JsonObject
        {
            ["signature"] = signature, ["score_line"] = new ChrfScore(metric.Value, []).Format(signature),
        });
    }

    static JsonObject ScoreGsm8k(List<OutputLine> lines, Gsm8kFormat format)
    {
        var items = new JsonArray();
        var strict = new List<double>();
        var flexible = new List<double>();
        foreach (var line in lines)
        {
            var (s, f) = Gsm8kAnswers.Extract(line.Prediction, format);
            var gold = line.Reference.Contains("####",
                StringComparison.Ordinal) ? Gsm8kAnswers.Gold(line.Reference) : line.Reference.Trim();
            bool strictOk = Gsm8kAnswers.IsCorrect(s, gold), flexibleOk = Gsm8kAnswers.IsCorrect(f, gold);
            var item = NewItem(line);
            item["gold"] = gold;
            item["strict"] = s;
            item["flexible"] = f;
            item["strict_correct"] = strictOk;
            item["flexible_correct"] = flexibleOk;
            items.Add(item);
            strict.Add(strictOk ? 1 : 0);
            flexible.Add(flexibleOk ? 1 : 0);
        }
        var aggregate = new JsonObject();
        Add(aggregate, Bootstrap.Mean("gsm8k/exact_match,strict-match", strict));
        Add(aggregate, Bootstrap.Mean("gsm8k/exact_match,flexible-extract", flexible));
        return Document("gsm8k", lines.Count, items, aggregate,
            new JsonObject { ["format"] = format == Gsm8kFormat.Cot ? "gsm8k_cot" : "gsm8k" });
    }

    /// <summary>Task metrics (TaskMetrics): per item exact match, and for JSON references json_valid and schema_valid;
    /// the aggregate holds every task/… metric, the details the schema, the fields' roles and confusion
    /// matrices.</summary>
    static JsonObject ScoreTask(List<OutputLine> lines, TaskSchema? schema)
    {
        var pairs = lines.Select(l => (l.Reference, l.Prediction)).ToList();
        var (metrics, details) = TaskMetrics.Score(pairs, schema);
        var effective = schema ?? TaskSchema.Infer(pairs.Select(p => p.Reference));
        var items = new JsonArray();
        foreach (var line in lines)
        {
            var item = NewItem(line);
            var reference = TaskAnswers.ParseObject(line.Reference);
            var prediction = TaskAnswers.ParseObject(line.Prediction);
            item["exact_match"] = reference is not null
                ? prediction is not null && TaskAnswers.Canonical(prediction) == TaskAnswers.Canonical(reference)
                : TaskAnswers.Normalize(line.Prediction) == TaskAnswers.Normalize(line.Reference);
            if (reference is not null)
            {
                item["json_valid"] = prediction is not null;
                if (effective is not null)
                    item["schema_valid"] = prediction is not null
                    && effective.Accepts(prediction);
            }
            items.Add(item);
        }
        var aggregate = new JsonObject();
        foreach (var metric in metrics)
            Add(aggregate, metric);
        var document = Document("task", lines.Count, items, aggregate,
            new JsonObject
            {
                ["schema"] = schema is not null ? "given" : effective is not null
                ? "inferred from the references" : null
            });
        document["details"] = details;
        return document;
    }

    static JsonObject NewItem(OutputLine line)
    {
        var item = new JsonObject { ["line"] = line.Line };
        if (line.Id is not null)
            item["id"] = line.Id;
        return item;
    }

    static void Add(JsonObject aggregate, MetricValue metric) =>
        aggregate[metric.Name] = new JsonObject
        {
            ["value"] = metric.Value, ["low"] = metric.Low, ["high"] = metric.High, ["count"] = metric.Count,
        };

    static JsonObject Document(string kind, int count, JsonArray items, JsonObject aggregate, JsonObject options) =>
        new()
        {
            ["kind"] = kind, ["count"] = count, ["options"] = options,
            ["bootstrap"] = new JsonObject
            {
                ["resamples"] = Bootstrap.DefaultResamples,
                ["seed"] = Bootstrap.DefaultSeed
            },
            ["items"] = items, ["aggregate"] = aggregate,
        };
}
