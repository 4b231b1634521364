// The live gate alone: no decision before each variant has min_requests, a verdict on every margin once it has, and
// at the deadline a rollback when the quieter variant saw too few requests to judge.
using FineTune.Pipeline.Serving;
using FineTune.Serving.Releases;

namespace FineTune.Pipeline.Tests;

public sealed class ReleaseVerdictTests
{
    static readonly ReleaseSettings Settings = new()
    {
        Policy = ReleasePolicy.Canary, MinRequests = 100,
        MaxMinutes = 30, MinRequestsAtDeadline = 20
    };

    static VariantNumbers Numbers(long requests, long errors = 0, double p95 = 100, long invalid = 0,
        long screened = 0) => new(requests, errors, screened, invalid, 0, p95, requests);

    [Fact]
    public void Nothing_is_decided_before_both_variants_have_enough_requests()
    {
        Assert.Null(ReleaseVerdict.Decide(Settings, Numbers(500), Numbers(99), TimeSpan.FromMinutes(5)));
        var decision = ReleaseVerdict.Decide(Settings, Numbers(500), Numbers(100), TimeSpan.FromMinutes(5));
        Assert.True(decision!.Promote, string.Join("; ", decision.Reasons));
    }

    [Theory]
    [InlineData(3, 100, 0, 0, "error_rate: fail")]     // 3% errors against 0%, margin 1%
    [InlineData(0, 151, 0, 0, "latency_p95: fail")]    // 151 ms against 100 ms, ×1.5 allowed
    [InlineData(0, 100, 3, 0, "invalid_rate: fail")]
    [InlineData(0, 100, 0, 2, "screen_rate: fail")]
    public void A_candidate_worse_beyond_a_margin_is_rolled_back(long errors, double p95, long invalid,
        long screened, string reason)
    {
        var decision = ReleaseVerdict.Decide(Settings, Numbers(100), Numbers(100, errors, p95, invalid, screened),
            TimeSpan.FromMinutes(1))!;
        Assert.False(decision.Promote);
        Assert.Contains(decision.Reasons, r => r.StartsWith(reason));
        Assert.Single(decision.Reasons, r => r.Contains(": fail,"));
    }

    [Fact]
    public void Feedback_counts_once_each_variant_has_enough_ratings()
    {
        var production = Numbers(100) with { Ratings = 10, RatingSum = 8 };     // 0.8
        var few = Numbers(100) with { Ratings = 9, RatingSum = 0 };
        Assert.True(ReleaseVerdict.Decide(Settings, production, few, TimeSpan.FromMinutes(1))!.Promote);
        var worse = Numbers(100) with { Ratings = 10, RatingSum = 6 };          // 0.6: more than 0.1 below
        var decision = ReleaseVerdict.Decide(Settings, production, worse, TimeSpan.FromMinutes(1))!;
        Assert.False(decision.Promote);
        Assert.Contains(decision.Reasons, r => r.StartsWith("feedback: fail, candidate 0.6 vs production 0.8"));
    }

    [Fact]
    public void At_the_deadline_too_little_traffic_rolls_back_and_enough_is_judged()
    {
        var starved = ReleaseVerdict.Decide(Settings, Numbers(500), Numbers(19), TimeSpan.FromMinutes(30))!;
        Assert.False(starved.Promote);
        Assert.StartsWith("traffic: fail, 19 requests", Assert.Single(starved.Reasons));
        Assert.True(ReleaseVerdict.Decide(Settings, Numbers(500), Numbers(20), TimeSpan.FromMinutes(30))!.Promote);
    }
}
