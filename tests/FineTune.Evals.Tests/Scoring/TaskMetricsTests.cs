// The task suite on hand-made answers whose every number is worked out in the comments: JSON answers (validity, schema,
// per-field accuracy, macro-F1 as scikit-learn's f1_score(average="macro", labels=the references' labels), ROUGE-L on
// free text, the confusion matrix), a plain-text classification, and field names that come from hostile data.
using System.Text.Json.Nodes;
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class TaskMetricsTests
{
    static string Ticket(string category, string priority, string summary) =>
        new JsonObject { ["category"] = category, ["priority"] = priority, ["summary"] = summary }.ToJsonString();

    static readonly (string Reference, string Prediction)[] Tickets =
    [
        (Ticket("billing", "high", "double charge"),
            """{"category": "Billing", "priority": "high", "summary": "double charge"}"""), // all right
        // priority wrong
        (Ticket("billing", "low", "invoice copy"), Ticket("billing", "high", "invoice copy")),
        // not JSON
        (Ticket("technical", "high", "device dead"), "technical, high"),
        // no priority
        (Ticket("technical", "low", "dark mode"), """{"category": "technical", "summary": "dark mode"}"""),
        // category wrong
        (Ticket("shipping", "high", "lost parcel"), Ticket("billing", "high", "lost parcel")),
        // summary differs
        (Ticket("shipping", "low", "change address"), Ticket("shipping", "low", "change the address")),
    ];

    static Dictionary<string, MetricValue> Metrics(IReadOnlyList<(string, string)> pairs, TaskSchema? schema = null) =>
        TaskMetrics.Score(pairs, schema).Metrics.ToDictionary(m => m.Name);

    [Fact]
    public void Json_answers_are_scored_for_validity_schema_and_each_field_by_its_role()
    {
        var m = Metrics(Tickets);
        Assert.Equal(1 / 6.0, m["task/exact_match"].Value, 12);       // only the first (case differs, normalised away)
        Assert.Equal(5 / 6.0, m["task/json_valid"].Value, 12);        // all but "technical, high"
        Assert.Equal(4 / 6.0, m["task/schema_valid"].Value, 12);      // and not the one without a priority
        // wrong: the invalid one and the billing/shipping mix-up
        Assert.Equal(4 / 6.0, m["task/category_accuracy"].Value, 12);
        // wrong: 2 (high for low), 3 (invalid), 4 (missing)
        Assert.Equal(3 / 6.0, m["task/priority_accuracy"].Value, 12);
        // category: billing tp 2 fp 1 fn 0 → 0.8; technical tp 1 fn 1 → 2/3; shipping tp 1 fn 1 → 2/3.
        Assert.Equal((0.8 + 2 / 3.0 + 2 / 3.0) / 3, m["task/category_macro_f1"].Value, 12);
        // priority: high tp 2 fp 1 fn 1 → 2/3; low tp 1 fn 2 → 0.5.
        Assert.Equal((2 / 3.0 + 0.5) / 2, m["task/priority_macro_f1"].Value, 12);
        // summary is free text: ROUGE-L F1 1, 1, 0 (invalid), 1, 1, and 0.8 ("change address" in "change the address").
        Assert.Equal(4.8 / 6, m["task/summary_rougeL"].Value, 12);
        Assert.False(m.ContainsKey("task/summary_macro_f1"));
        Assert.False(m.ContainsKey("task/macro_f1"));
        // Proportions carry Wilson intervals, macro-F1 a bootstrap interval, all around the value.
        Assert.All(m.Values, v => Assert.True(v.Low <= v.Value && v.Value <= v.High, v.ToString()));
        Assert.All(m.Values, v => Assert.Equal(6, v.Count));
    }

    [Fact]
    public void The_confusion_matrix_has_reference_labels_as_rows_and_an_other_column()
    {
        var (_, details) = TaskMetrics.Score(Tickets);
        var category = details["fields"]!["category"]!;
        Assert.Equal("label", category["role"]!.GetValue<string>());
        Assert.Equal("""["billing","shipping","technical"]""", category["confusion"]!["labels"]!.ToJsonString());
        Assert.Equal("[[2,0,0,0],[1,1,0,0],[0,0,1,1]]", category["confusion"]!["matrix"]!.ToJsonString());
        Assert.Equal("text", details["fields"]!["summary"]!["role"]!.GetValue<string>());
        Assert.Equal("""["category","priority","summary"]""", details["schema"]!["required"]!.ToJsonString());
    }

    [Fact]
    public void A_given_schema_decides_validity_and_which_fields_are_scored()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "schema.json");
        File.WriteAllText(path,
            """{"type": "object", "properties": {"category": {"type": "string"}, "note": {"type": "string"}}, "required": ["category"]}""");
        var m = Metrics(Tickets, TaskSchema.Load(path));
        Assert.Equal(5 / 6.0, m["task/schema_valid"].Value, 12);     // only "category" is required now
        Assert.True(m.ContainsKey("task/category_accuracy"));
        Assert.False(m.ContainsKey("task/priority_accuracy"));
        File.WriteAllText(path, """{"properties": {"n": {"type": "array"}}}""");
        Assert.Contains("properties.n.type is 'array'",
            Assert.Throws<InvalidDataException>(() => TaskSchema.Load(path)).Message);
    }

    [Fact]
    public void Plain_text_labels_get_accuracy_and_macro_f1_and_free_text_only_exact_match()
    {
        (string, string)[] sentiment =
        [
            ("positive", "Positive"), ("positive", "negative"), ("negative", "negative"),
            ("negative", "negative "), ("neutral", "neutral"), ("neutral", "sarcastic"),
        ];
        var m = Metrics(sentiment);
        Assert.Equal(4 / 6.0, m["task/exact_match"].Value, 12);
        Assert.Equal(4 / 6.0, m["task/accuracy"].Value, 12);
        // positive tp 1 fn 1 → 2/3; negative tp 2 fp 1 → 0.8; neutral tp 1 fn 1 → 2/3.
        Assert.Equal((2 / 3.0 + 0.8 + 2 / 3.0) / 3, m["task/macro_f1"].Value, 12);
        Assert.False(m.ContainsKey("task/json_valid"));

        var free = Metrics([("The cat sat.", "the  cat sat."), ("A dog ran.", "A dog walked."), ("Birds fly.",
            "Fish swim.")]);
        Assert.Equal(["task/exact_match"], free.Keys);
        Assert.Equal(1 / 3.0, free["task/exact_match"].Value, 12);
    }

    [Fact]
    public void Field_names_from_the_data_become_safe_distinct_metric_names()
    {
        (string, string)[] pairs =
        [
            ("""{"A/B c": "x", "a b?c": "y"}""", """{"A/B c": "x", "a b?c": "z"}"""),
            // duplicate key: not valid
            ("""{"A/B c": "x", "a b?c": "y"}""", """{"A/B c": "x", "a b?c": "y", "a b?c": "dup"}"""),
        ];
        var m = Metrics(pairs);
        // "x" both times, but the second answer is not valid JSON
        Assert.Equal(0.5, m["task/a_b_c_accuracy"].Value);
        Assert.Equal(0.0, m["task/a_b_c_2_accuracy"].Value);
        Assert.Equal(0.5, m["task/json_valid"].Value);
        Assert.All(m.Keys, k => Assert.Matches("^task/[a-z0-9_]+$", k));
    }
}
