// Pairwise comparison asked in both orders: a judge with position bias yields only ties, a consistent judge yields
// wins and losses for the answer it really prefers.
using FineTune.Evals.Judging;

namespace FineTune.Evals.Tests.Judging;

public class JudgeCompareTests
{
    static Judge NewJudge(FakeJudgeServer server)
    {
        var options = new JudgeOptions
        {
            Endpoint = server.BaseUrl, Model = "judge-test", ApiKey = "k",
            RetryBaseDelay = TimeSpan.Zero
        };
        return new Judge(JudgeClientFactory.Create(options), options);
    }

    static double Metric(CompareReport report, string name) => report.Result.Metrics.Single(m => m.Name == name).Value;

    [Fact]
    public async Task PositionBiasedJudgeGivesOnlyTies()
    {
        await using var server = await FakeJudgeServer.StartAsync((_, _) =>
            Task.FromResult(FakeJudgeServer.Reply("{\"winner\": \"1\", \"reasons\": \"the first is better\"}")));
        var pairs = Enumerable.Range(0,
            3).Select(i => new PairRequest($"p{i}", $"Q{i}", $"candidate {i} MARKER", $"baseline {i}")).ToArray();
        var report = await NewJudge(server).CompareAsync(pairs);

        Assert.All(report.Items, i => Assert.Equal(PairVerdict.Tie, i.Verdict));
        Assert.Equal(1.0, Metric(report, "judge/tie_rate"));
        Assert.Equal(0.0, Metric(report, "judge/win_rate"));
        Assert.Equal(0.0, Metric(report, "judge/loss_rate"));
        Assert.Equal(6, server.Requests);   // both orders asked for every pair
        Assert.Equal(6 * FakeJudgeServer.PromptTokens, report.Usage.InputTokens);
    }

    [Fact]
    public async Task ConsistentJudgeCountsWinsAndLosses()
    {
        await using var server = await FakeJudgeServer.StartAsync((r, _) =>
        {
            var (first, second) = FakeJudgeServer.Responses(r.LastUser);
            var winner = first.Contains("MARKER") ? 1 : second.Contains("MARKER") ? 2 : 0;
            return Task.FromResult(FakeJudgeServer.Reply(winner == 0 ? "{\"winner\": \"tie\"}"
                : $"```json\n{{\"winner\": {winner}}}\n```"));
        });
        PairRequest[] pairs =
        [
            new("w1", "Q1", "good MARKER", "plain"),
            new("w2", "Q2", "also MARKER", "plain"),
            new("l1", "Q3", "plain", "baseline MARKER"),
            new("t1", "Q4", "plain a", "plain b"),
        ];
        var report = await NewJudge(server).CompareAsync(pairs);

        Assert.Equal([PairVerdict.Win, PairVerdict.Win, PairVerdict.Loss, PairVerdict.Tie],
            report.Items.Select(i => i.Verdict));
        Assert.Equal(0.5, Metric(report, "judge/win_rate"));
        Assert.Equal(0.25, Metric(report, "judge/loss_rate"));
        Assert.Equal(0.25, Metric(report, "judge/tie_rate"));
        var win = report.Result.Metrics.Single(m => m.Name == "judge/win_rate");
        Assert.True(win.Low < 0.5 && win.High > 0.5);
    }

    [Fact]
    public async Task UnparseableVerdictIsAFailureNotATie()
    {
        await using var server = await FakeJudgeServer.StartAsync((_,
            _) => Task.FromResult(FakeJudgeServer.Reply("{\"winner\": \"both\"}")));
        var report = await NewJudge(server).CompareAsync([new PairRequest("p", "Q", "a", "b")]);

        Assert.Equal(PairVerdict.Failed, report.Items[0].Verdict);
        Assert.Equal(1, Metric(report, "judge/failures"));
        Assert.DoesNotContain(report.Result.Metrics, m => m.Name == "judge/tie_rate");
    }
}
