// The gate on constructed score sets: it promotes a real improvement, rejects one inside the noise or below δ, flags
// forgetting on a general benchmark, and refuses to decide on missing results.
using FineTune.Evals.Gate;

namespace FineTune.Evals.Tests.Gate;

public class RegressionGateTests
{
    static readonly GateRule[] Rules =
    [
        new("task/exact_match", GateRuleKind.Improve, 0.02),
        new("mmlu/acc", GateRuleKind.NoRegression, 0.01),
        new("gsm8k/exact_match,flexible-extract", GateRuleKind.NoRegression, 0.02),
    ];

    static MetricValue[] Scores(double task, double mmlu, double gsm8k, long n = 2000) =>
        [new("task/exact_match", task, n), new("mmlu/acc", mmlu, 14042),
            new("gsm8k/exact_match,flexible-extract", gsm8k, 1319)];

    [Fact]
    public void A_clear_improvement_without_forgetting_is_promoted()
    {
        var decision = RegressionGate.Decide(Scores(0.60, 0.45, 0.30), Scores(0.70, 0.446, 0.295), Rules);
        Assert.True(decision.Promote, decision.ToMarkdown());
        Assert.Empty(decision.Forgetting);
    }

    [Fact]
    public void An_improvement_below_delta_is_rejected_with_the_reason()
    {
        var decision = RegressionGate.Decide(Scores(0.60, 0.45, 0.30), Scores(0.61, 0.45, 0.30), Rules);
        Assert.False(decision.Promote);
        Assert.Contains("less than the required 0.02", decision.Checks[0].Reason);
    }

    [Fact]
    public void An_improvement_inside_the_noise_is_rejected()
    {
        // +0.03 on 100 examples: the 95% interval on the difference spans about ±0.13.
        var decision = RegressionGate.Decide(Scores(0.60, 0.45, 0.30, n: 100), Scores(0.63, 0.45, 0.30, n: 100), Rules);
        Assert.False(decision.Promote);
        Assert.Contains("includes no change", decision.Checks[0].Reason);
        Assert.True(decision.Checks[0].DeltaLow < 0 && decision.Checks[0].DeltaHigh > 0);
    }

    [Fact]
    public void Forgetting_on_a_general_benchmark_blocks_promotion_and_is_flagged()
    {
        var decision = RegressionGate.Decide(Scores(0.60, 0.45, 0.30), Scores(0.75, 0.40, 0.30), Rules);
        Assert.False(decision.Promote);
        Assert.Equal(["mmlu/acc"], decision.Forgetting.Select(c => c.Metric));
        Assert.Contains("forgot", decision.ToJson());
        Assert.Contains("| mmlu/acc |", decision.ToMarkdown());
    }

    [Fact]
    public void A_missing_result_fails_the_check_and_says_which_side_lacks_it()
    {
        var candidate = Scores(0.70, 0.45, 0.30).Where(m => m.Name != "mmlu/acc");
        var decision = RegressionGate.Decide(Scores(0.60, 0.45, 0.30), candidate, Rules);
        Assert.False(decision.Promote);
        Assert.Contains("the candidate has no 'mmlu/acc' result", decision.Checks[1].Reason);
    }

    [Fact]
    public void Rules_without_an_improve_rule_are_refused()
    {
        Assert.Throws<ArgumentException>(() => RegressionGate.Decide([], [],
            [new GateRule("mmlu/acc", GateRuleKind.NoRegression, 0.01)]));
    }

    [Fact]
    public void An_at_least_rule_judges_the_candidate_alone_and_fails_below_its_floor()
    {
        GateRule[] rules = [.. Rules, new("task/json_valid", GateRuleKind.AtLeast, 0.99)];
        MetricValue[] With(MetricValue[] scores, double? valid) => valid is { } v ? [.. scores, new("task/json_valid",
            v, 24)] : scores;

        var passes = RegressionGate.Decide(With(Scores(0.60, 0.45, 0.30), null), With(Scores(0.70, 0.45, 0.30), 1.0),
            rules);
        Assert.True(passes.Promote, passes.ToMarkdown());   // no baseline value needed
        Assert.Contains("at least 0.99", passes.ToMarkdown());

        // Better than the baseline is not enough: 23 of 24 answers parse, the floor is 0.99.
        var fails = RegressionGate.Decide(With(Scores(0.60, 0.45, 0.30), 0.5), With(Scores(0.70, 0.45, 0.30),
            23 / 24.0), rules);
        Assert.False(fails.Promote);
        Assert.Equal("is 0.9583, below the required 0.99", fails.Checks[3].Reason);
        Assert.Empty(fails.Forgetting);

        var missing = RegressionGate.Decide(Scores(0.60, 0.45, 0.30), Scores(0.70, 0.45, 0.30), rules);
        Assert.Contains("the candidate has no 'task/json_valid' result", missing.Checks[3].Reason);
    }
}
