// Rubric grading against the local fake endpoint: parsing, malformed replies as failures, 429 with Retry-After,
// timeouts, the on-disk cache, the concurrency limit, token usage and cancellation.
using System.Diagnostics;
using FineTune.Evals.Judging;

namespace FineTune.Evals.Tests.Judging;

public class JudgeGradeTests
{
    static JudgeOptions Options(FakeJudgeServer server) => new()
    {
        Endpoint = server.BaseUrl,
        Model = "judge-test",
        ApiKey = "test-key",
        MaxRetries = 3,
        Timeout = TimeSpan.FromSeconds(10),
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
    };

    static Judge NewJudge(JudgeOptions options) =>
        new(JudgeClientFactory.Create(options), options, new Rubric("Be correct.", 1, 10));

    static GradeRequest Item(string id, string answer) => new(id, $"Question {id}?", answer, "reference");

    [Fact]
    public async Task GoodJsonIsParsedFromFencesAndStrings()
    {
        await using var server = await FakeJudgeServer.StartAsync((r, _) => Task.FromResult(
            r.LastUser.Contains("answer-seven")
                ? FakeJudgeServer.Reply("Sure!\n```json\n{\"score\": \"7\", \"reasons\": \"mostly right\"}\n```")
                : FakeJudgeServer.Score(9)));
        var report = await NewJudge(Options(server)).GradeAsync([Item("a", "answer-seven"), Item("b", "answer-nine")]);

        Assert.Equal([7.0, 9.0], report.Items.Select(i => i.Score!.Value));
        Assert.Equal("mostly right", report.Items[0].Reasons);
        Assert.Equal("judge", report.Result.Suite);
        Assert.Equal("judge-v1", report.Result.FormatVersion);
        var score = report.Result.Metrics.Single(m => m.Name == "judge/score");
        Assert.Equal(8.0, score.Value, 9);
        Assert.Equal(2, score.Count);
        Assert.Equal(0, report.Result.Metrics.Single(m => m.Name == "judge/failures").Value);
        Assert.Equal(new JudgeUsage(2 * FakeJudgeServer.PromptTokens, 2 * FakeJudgeServer.CompletionTokens, 2, 0),
            report.Usage);
        Assert.Equal(2 * FakeJudgeServer.PromptTokens,
            report.Result.Metrics.Single(m => m.Name == "judge/input_tokens").Value);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task MalformedRepliesAreRetriedThenCountedAsFailuresNotScores()
    {
        var correctionsSeen = 0;
        await using var server = await FakeJudgeServer.StartAsync((r, _) =>
        {
            if (r.MessageCount > 2 && r.LastUser.Contains("could not be used"))
                Interlocked.Increment(ref correctionsSeen);
            // A retry's last message is the correction naming the error: keep making the same mistake.
            var outOfRange = r.LastUser.Contains("range") || r.LastUser.Contains("outside");
            var prose = r.LastUser.Contains("prose") || r.LastUser.Contains("no JSON object");
            return Task.FromResult(outOfRange ? FakeJudgeServer.Score(42)
                : prose ? FakeJudgeServer.Reply("I would say it is quite good.") : FakeJudgeServer.Score(5));
        });
        var options = Options(server) with { MaxRetries = 2 };
        var report = await NewJudge(options).GradeAsync([Item("p", "prose"), Item("r", "range"), Item("g", "good")]);

        Assert.Null(report.Items[0].Score);
        Assert.Null(report.Items[1].Score);
        Assert.Contains("malformed", report.Items[0].Error);
        Assert.Contains("outside", report.Items[1].Error);
        Assert.Equal(3, report.Items[0].Attempts);
        Assert.Equal(5.0, report.Items[2].Score);
        Assert.Equal(3 + 3 + 1, server.Requests);
        Assert.Equal(4, correctionsSeen);   // two retries for each of the two malformed items
        var score = report.Result.Metrics.Single(m => m.Name == "judge/score");
        Assert.Equal((5.0, 1L), (score.Value, score.Count));
        Assert.Equal(2, report.Result.Metrics.Single(m => m.Name == "judge/failures").Value);
    }

    [Fact]
    public async Task RateLimitHonoursRetryAfterThenSucceeds()
    {
        await using var server = await FakeJudgeServer.StartAsync((r, _) =>
            Task.FromResult(r.Number == 1 ? FakeJudgeServer.Error(429, "1") : FakeJudgeServer.Score(6)));
        var watch = Stopwatch.StartNew();
        var report = await NewJudge(Options(server)).GradeAsync([Item("a", "x")]);

        Assert.Equal(6.0, report.Items[0].Score);
        Assert.Equal(2, report.Items[0].Attempts);
        Assert.Equal(2, server.Requests);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(900),
            $"retried after {watch.Elapsed}, before Retry-After: 1");
    }

    [Fact]
    public async Task ServerErrorsExhaustRetriesAndCountAsFailure()
    {
        await using var server = await FakeJudgeServer.StartAsync((_,
            _) => Task.FromResult(FakeJudgeServer.Error(503)));
        var report = await NewJudge(Options(server) with { MaxRetries = 2 }).GradeAsync([Item("a", "x")]);

        Assert.Null(report.Items[0].Score);
        Assert.Equal(3, server.Requests);
        Assert.DoesNotContain(report.Result.Metrics, m => m.Name == "judge/score");
        Assert.Equal(1, report.Result.Metrics.Single(m => m.Name == "judge/failures").Value);
    }

    [Fact]
    public async Task RequestPastTheTimeoutIsRetried()
    {
        await using var server = await FakeJudgeServer.StartAsync(async (r, ct) =>
        {
            if (r.Number == 1)
                await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return FakeJudgeServer.Score(4);
        });
        var watch = Stopwatch.StartNew();
        var report = await NewJudge(Options(server) with { Timeout = TimeSpan.FromMilliseconds(500) })
            .GradeAsync([Item("a", "x")]);

        Assert.Equal(4.0, report.Items[0].Score);
        Assert.Equal(2, server.Requests);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"took {watch.Elapsed}: the slow request was not cut off");
    }

    [Fact]
    public async Task CacheHitSendsNoSecondRequest()
    {
        using var dir = new TempDir();
        await using var server = await FakeJudgeServer.StartAsync((_, _) => Task.FromResult(FakeJudgeServer.Score(8)));
        var options = Options(server) with { CacheDirectory = dir.Path };

        var first = await NewJudge(options).GradeAsync([Item("a", "x")]);
        var second = await NewJudge(options).GradeAsync([Item("a", "x")]);
        Assert.Equal(1, server.Requests);
        Assert.Equal(8.0, second.Items[0].Score);
        Assert.True(second.Items[0].Cached);
        Assert.Equal(new JudgeUsage(0, 0, 0, 1), second.Usage);

        await NewJudge(options).GradeAsync([Item("a", "different answer")]);   // another answer is another key
        await NewJudge(options with { Model = "other-model" }).GradeAsync([Item("a", "x")]);
        Assert.Equal(3, server.Requests);
        Assert.False(first.Items[0].Cached);
    }

    [Fact]
    public async Task ConcurrencyNeverExceedsTheLimit()
    {
        await using var server = await FakeJudgeServer.StartAsync(async (_, ct) =>
        {
            await Task.Delay(100, ct);
            return FakeJudgeServer.Score(3);
        });
        var items = Enumerable.Range(0, 12).Select(i => Item($"q{i}", $"a{i}")).ToArray();
        var report = await NewJudge(Options(server) with { MaxConcurrency = 3 }).GradeAsync(items);

        Assert.All(report.Items, i => Assert.Equal(3.0, i.Score));
        Assert.Equal(12, server.Requests);
        Assert.InRange(server.MaxInFlight, 2, 3);   // parallel, but never past the limit
    }

    [Fact]
    public async Task CancellationIsThrownNotCountedAsFailure()
    {
        await using var server = await FakeJudgeServer.StartAsync(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return FakeJudgeServer.Score(3);
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => NewJudge(Options(server)).GradeAsync([Item("a",
            "x")], cts.Token));
    }
}
