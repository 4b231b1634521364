// Reply parsing, Retry-After parsing, back-off bounds, cache keys and configuration binding of JudgeOptions.
using FineTune.Evals.Judging;
using Microsoft.Extensions.Configuration;

namespace FineTune.Evals.Tests.Judging;

public class JudgeParsingTests
{
    static readonly Rubric Range = new("r", 1, 10);

    [Theory]
    [InlineData("{\"score\": 7, \"reasons\": \"ok\"}", 7.0)]
    [InlineData("```json\n{\"score\": 8.5}\n```", 8.5)]
    [InlineData("Here you go: {\"Score\": \" 3 \", \"reasons\": \"has {braces} and \\\"quotes\\\"\"} thanks", 3.0)]
    [InlineData("{not json} then {\"score\": 10}", 10.0)]
    [InlineData("{\"score\": 1}", 1.0)]
    public void WellFormedScoresParse(string reply, double expected)
    {
        var (score, _, error) = JudgeReplyParser.ParseGrade(reply, Range);
        Assert.Null(error);
        Assert.Equal(expected, score);
    }

    [Theory]
    [InlineData("")]
    [InlineData("It deserves a 7.")]
    [InlineData("{\"score\": 11}")]
    [InlineData("{\"score\": 0.5}")]
    [InlineData("{\"score\": \"seven\"}")]
    [InlineData("{\"score\": null}")]
    [InlineData("{\"reasons\": \"no score\"}")]
    [InlineData("{\"score\": 7")]
    public void MalformedScoresAreErrors(string reply)
    {
        var (score, _, error) = JudgeReplyParser.ParseGrade(reply, Range);
        Assert.Null(score);
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("{\"winner\": \"1\"}", "1")]
    [InlineData("{\"winner\": 2}", "2")]
    [InlineData("```\n{\"winner\": \"TIE\"}\n```", "tie")]
    [InlineData("{\"winner\": \"A\"}", null)]
    public void VerdictsParse(string reply, string? expected) =>
        Assert.Equal(expected, JudgeReplyParser.ParseCompare(reply).Winner);

    [Fact]
    public void RetryAfterFormsAndBackOffBounds()
    {
        var now = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(2), JudgeRetry.ParseRetryAfter(null, "2", now));
        Assert.Equal(TimeSpan.FromMilliseconds(250), JudgeRetry.ParseRetryAfter("250", "2", now));
        Assert.Equal(TimeSpan.FromSeconds(30), JudgeRetry.ParseRetryAfter(null, "Wed, 01 Jan 2025 00:00:30 GMT", now));
        Assert.Null(JudgeRetry.ParseRetryAfter(null, "soon", now));

        var max = TimeSpan.FromSeconds(5);
        Assert.Equal(TimeSpan.FromSeconds(3),
            JudgeRetry.Delay(0, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1), max));
        Assert.Equal(max, JudgeRetry.Delay(0, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1), max));
        Assert.InRange(JudgeRetry.Delay(2, null, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1)),
            TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(5));
        Assert.Equal(max, JudgeRetry.Delay(20, null, TimeSpan.FromSeconds(1), max));
    }

    [Fact]
    public void CacheKeysSeparateFieldsAndOrder()
    {
        Assert.NotEqual(JudgeCache.Key("ab", "c"), JudgeCache.Key("a", "bc"));
        Assert.NotEqual(JudgeCache.Key("m", "x", "y"), JudgeCache.Key("m", "y", "x"));
        Assert.NotEqual(JudgeCache.Key("m", null), JudgeCache.Key("m", ""));
        Assert.Equal(64, JudgeCache.Key("m").Length);
    }

    [Fact]
    public void OptionsBindFromConfigurationAndResolveKeyFromEnvironment()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Judge:Endpoint"] = "http://127.0.0.1:8000/v1",
            ["Judge:Model"] = "qwen-judge",
            ["Judge:ApiKeyVariable"] = "FINETUNE_JUDGE_TEST_KEY",
            ["Judge:MaxConcurrency"] = "8",
            ["Judge:Timeout"] = "00:00:30",
            ["Judge:CacheDirectory"] = "/tmp/judge-cache",
        }).Build();
        var options = config.GetSection("Judge").Get<JudgeOptions>()!;

        Assert.Equal(("qwen-judge", 8, 3, TimeSpan.FromSeconds(30), "/tmp/judge-cache"),
            (options.Model, options.MaxConcurrency, options.MaxRetries, options.Timeout, options.CacheDirectory));
        Environment.SetEnvironmentVariable("FINETUNE_JUDGE_TEST_KEY", "from-env");
        try
        {
            Assert.Equal("from-env", options.ResolveApiKey());
        }
        finally
        {
            Environment.SetEnvironmentVariable("FINETUNE_JUDGE_TEST_KEY", null);
        }
        Assert.Equal("direct", (options with { ApiKey = "direct" }).ResolveApiKey());
        Assert.Throws<ArgumentException>(() => (options with { Model = "" }).Validate());
        Assert.Throws<ArgumentException>(() => (options with { Endpoint = "not a url" }).Validate());
    }
}
