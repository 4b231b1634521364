// GRPO's built-in reward functions on texts whose right scores are plain: JSON validity, schema validity against the
// reference's fields, per-field match (and the error when truncation cut a reference), GSM8K's final answer, a regex
// (a catastrophic-backtracking completion scores 0 in bounded time), a length penalty, and the weighted sum with its
// per-function scores.
using FineTune.Training.Rewards;

namespace FineTune.Training.Tests;

public class RewardFunctionTests
{
    const string Reference = """{"category": "billing", "priority": "high"}""";

    static RewardContext C(string completion, string? reference = Reference, int tokens = 5) =>
        new([1, 2], Enumerable.Range(0, tokens).ToArray(), "prompt", completion, reference);

    static double One(IRewardFunction f, RewardContext c) => f.Score([c])[0];

    [Fact]
    public void Json_and_schema_validity_and_field_match_read_the_completion_as_the_task_suite_does()
    {
        Assert.Equal(1, One(new JsonValidReward(), C(""" {"category": "billing"} """)));
        Assert.Equal(0, One(new JsonValidReward(), C("""Sure! {"category": "billing"}""")));
        var schema = new SchemaValidReward(null);
        Assert.Equal(1, One(schema, C("""{"category": "account", "priority": "low"}""")));
        Assert.Equal(0, One(schema, C("""{"category": "account"}""")));                 // a required field missing
        var fields = new FieldMatchReward(null);
        Assert.Equal(1, One(fields, C("""{"priority": "High", "category": " billing"}""")));
        Assert.Equal(0.5, One(fields, C("""{"category": "billing", "priority": "low"}""")));
        Assert.Equal(0, One(fields, C("not json")));
        Assert.Equal(1, One(new FieldMatchReward(["category"]), C("""{"category": "billing", "priority": "low"}""")));
        var e = Assert.Throws<InvalidDataException>(() => One(fields, C("{}", reference: "billing")));
        Assert.Contains("reference answers that are JSON objects", e.Message);
        Assert.Contains("one is: billing", e.Message);
        // An example longer than the tokenized length had its answer cut: the error says so and what to change.
        var cut = C("{}", reference: """{"category": "bil""") with { ReferenceCut = true };
        e = Assert.Throws<InvalidDataException>(() => One(fields, cut));
        Assert.Contains("was cut at the tokenized length: tokenize with truncation drop", e.Message);
    }

    [Fact]
    public void Gsm8k_regex_and_length_rewards()
    {
        var gsm = new Gsm8kReward();
        Assert.Equal(1, One(gsm, C("3 + 4 = 7\n#### 7", "Natalia sold 7.\n#### 7")));
        Assert.Equal(0, One(gsm, C("the answer is 7", "#### 7")));                      // strict: needs "#### "
        var regex = new RegexReward(@"^\{.*\}$");
        Assert.Equal(1, One(regex, C("{x}")));
        Assert.Equal(0, One(regex, C("x")));
        var evil = new RegexReward("^(a+)+$");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, One(evil, C(new string('a', 5000) + "!")));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Contains("not a valid regular expression", RegexReward.Check("(unclosed"));
        var length = new LengthReward(target: 4, penalty: 0.5);
        Assert.Equal(0, One(length, C("", tokens: 4)));
        Assert.Equal(-1.5, One(length, C("", tokens: 7)));
    }

    [Fact]
    public void The_reward_is_the_weighted_sum_and_each_function_is_reported()
    {
        using var set = RewardSet.Create(
        [
            new RewardSpec { Type = "json_valid", Weight = 0.5 },
            new RewardSpec { Type = "field_match", Weight = 2, Fields = ["category"] },
        ], null, policyVocabulary: 64);
        var (per, total) = set.Score([C("""{"category": "billing"}"""), C("""{"category": "shipping"}"""), C("no")]);
        Assert.Equal(["json_valid", "field_match_category"], set.Names);
        Assert.Equal([1.0, 1.0, 0.0], per[0]);
        Assert.Equal([1.0, 0.0, 0.0], per[1]);
        Assert.Equal([2.5, 0.5, 0.0], total);
        var noText = new RewardContext([1], [2], null, null, Reference);
        var e = Assert.Throws<InvalidDataException>(() => set.Score([noText]));
        Assert.Contains("no tokenizer", e.Message);
    }
}
