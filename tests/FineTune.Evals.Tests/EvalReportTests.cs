// Results files round-trip, and reports whose prompt formats differ are flagged before anyone compares them.
namespace FineTune.Evals.Tests;

public class EvalReportTests
{
    [Fact]
    public void Report_round_trips_through_json()
    {
        var report = new EvalReport("m", DateTimeOffset.UnixEpoch,
            [new SuiteResult("mmlu", "mmlu-harness-v1", [new MetricValue("mmlu/acc", 0.25, 100, 0.17, 0.34)])]);
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "results.json");
        File.WriteAllText(path, report.ToJson());
        var loaded = EvalReport.Load(path);
        Assert.Equal("m", loaded.Model);
        Assert.Equal(report.Metrics, loaded.Metrics);
    }

    [Fact]
    public void Differing_format_versions_are_reported()
    {
        var a = new EvalReport("a", default, [new SuiteResult("gsm8k", "gsm8k-harness-v1", [])]);
        var b = new EvalReport("b", default, [new SuiteResult("gsm8k", "gsm8k-harness-v2", [])]);
        Assert.Equal(["gsm8k: gsm8k-harness-v1 vs gsm8k-harness-v2"], EvalReport.FormatMismatches(a, b));
    }
}
