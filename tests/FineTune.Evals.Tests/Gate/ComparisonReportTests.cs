// The evaluation report on two constructed results: every metric with both values, intervals, change and the rule
// that judged it; the examples where the candidate's answer got worse, largest drop first, none where it did not.
using FineTune.Evals.Gate;
using FineTune.Text;

namespace FineTune.Evals.Tests.Gate;

public class ComparisonReportTests
{
    static TaskOutput Output(long line, string reference, string prediction) =>
        new(line, [new ChatMessage("system", "triage"), new ChatMessage("user", $"ticket {line}")], reference,
            prediction);

    static EvalReport Report(double accuracy, params TaskOutput[] outputs) => new("m", DateTimeOffset.UnixEpoch,
    [
        new SuiteResult("perplexity", "v1", [new MetricValue("perplexity/token_accuracy", accuracy, 100,
            accuracy - 0.05, accuracy + 0.05)]),
        TaskEval.Rouge(outputs),
    ]);

    [Fact]
    public void Lists_every_metric_with_its_rule_and_the_largest_regressions_first()
    {
        var baseline = Report(0.50,
            Output(1, "the cat sat on the mat", "the cat sat on the mat"),
            Output(2, "a dog ran home", "a dog ran home"),
            Output(3, "birds fly south", "fish swim"));
        var candidate = Report(0.70,
            Output(1, "the cat sat on the mat", "the cat sat"),          // ROUGE-L 1 → 0.67
            Output(2, "a dog ran home", "nothing at all"),               // 1 → 0: the largest drop
            Output(3, "birds fly south", "birds fly south"));            // better: not listed
        var decision = RegressionGate.Decide(baseline, candidate,
            [new GateRule("perplexity/token_accuracy", GateRuleKind.Improve, 0.01), new GateRule("rouge/rougeL",
                GateRuleKind.NoRegression, 0.05)]);

        var regressions = ComparisonReport.Regressions(baseline, candidate).ToList();
        Assert.Equal([2L, 1L], regressions.Select(r => r.Line));
        Assert.Equal("ticket 2", regressions[0].Prompt);
        Assert.Equal((1.0, 0.0), (regressions[0].BaselineScore, regressions[0].CandidateScore));

        var md = ComparisonReport.Markdown(baseline, candidate, decision, "tickets version 1 against the base model");
        Assert.StartsWith($"# tickets version 1 against the base model: " +
            $"{(decision.Promote ? "promote" : "keep the baseline")}", md);
        Assert.Contains("| perplexity/token_accuracy | 0.5000 [0.4500, 0.5500] | 0.7000 [0.6500, 0.7500] | +0.2000 " +
            "| pass: improved by +0.2000", md);
        Assert.Contains("| rouge/rougeL |", md);
        Assert.Contains("the 2 largest drops", md);
        Assert.True(md.IndexOf("### test line 2", StringComparison.Ordinal) < md.IndexOf("### test line 1",
            StringComparison.Ordinal));
        Assert.Contains("- candidate: `nothing at all`", md);
        Assert.DoesNotContain("### test line 3", md);

        // The same report for programs.
        var json = ComparisonReport.ToJson(baseline, candidate, decision, "t");
        Assert.Equal(decision.Promote, json["promote"]!.GetValue<bool>());
        var accuracy = json["metrics"]!.AsArray().Single(m => m!["name"]!.GetValue<string>()
            == "perplexity/token_accuracy")!;
        Assert.Equal(0.5, accuracy["baseline"]!["value"]!.GetValue<double>());
        Assert.Equal(0.75, accuracy["candidate"]!["high"]!.GetValue<double>(), 1e-12);
        Assert.Equal(0.2, accuracy["change"]!.GetValue<double>(), 1e-12);
        Assert.True(accuracy["gate"]!["passed"]!.GetValue<bool>());
        Assert.Equal([2L, 1L], json["regressions"]!.AsArray().Select(r => r!["line"]!.GetValue<long>()));
        Assert.Equal("nothing at all", json["regressions"]![0]!["candidate"]!.GetValue<string>());
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(json.ToJsonString()));
    }

    [Fact]
    public void Answers_cannot_break_the_markdown_and_long_ones_are_cut()
    {
        var baseline = Report(0.5, Output(1, "x y z", "x y z"));
        var candidate = Report(0.5, Output(1, "x y z", "```\n# injected heading\n" + new string('a', 1000)));
        var md = ComparisonReport.Markdown(baseline, candidate,
            RegressionGate.Decide(baseline, candidate, [new GateRule("perplexity/token_accuracy", GateRuleKind.Improve,
                0.01)]), "t");
        Assert.DoesNotContain("\n# injected", md);
        Assert.DoesNotContain("```", md);
        Assert.Contains("…`", md);
    }
}
