// GSM8K: harness prompt strings byte for byte for the first test problem, the exact-match normalisation, and the
// suite's plumbing with a model that ends at once and a fixed extraction delegate.
using FineTune.Evals;
using FineTune.Text;

namespace FineTune.Evals.Tests.Suites;

public class Gsm8kTests
{
    const string Janet =
        "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for " +
        "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh " +
        "duck egg. How much in dollars does she make every day at the farmers' market?";
    const string Natalia =
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many " +
        "clips did Natalia sell altogether in April and May?";
    const string NataliaAnswer =
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in " +
        "April and May.\n#### 72";

    const string Cot8 =
        "Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are " +
            "done, there will be 21 trees. How many trees did the grove workers plant today?\nA: There are 15 trees " +
            "originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = " +
            "6. The answer is 6.\n\n" +
        "Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking " +
            "lot?\nA: There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.\n\n" +
        "Q: Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in " +
            "total?\nA: Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. " +
            "After eating 35, they had 74 - 35 = 39. The answer is 39.\n\n" +
        "Q: Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops " +
            "did Jason give to Denny?\nA: Jason started with 20 lollipops. Then he had 12 after giving some to " +
            "Denny. So he gave Denny 20 - 12 = 8. The answer is 8.\n\n" +
        "Q: Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he " +
            "have now?\nA: Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 " +
            "more toys. 5 + 4 = 9. The answer is 9.\n\n" +
        "Q: There were nine computers in the server room. Five more computers were installed each day, from monday " +
            "to thursday. How many computers are now in the server room?\nA: There were originally 9 computers. For " +
            "each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The " +
            "answer is 29.\n\n" +
        "Q: Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many " +
            "golf balls did he have at the end of wednesday?\nA: Michael started with 58 golf balls. After losing " +
            "23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is " +
            "33.\n\n" +
        "Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\nA: Olivia had " +
            "23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. " +
            "23 - 15 is 8. The answer is 8.\n\n";

    static (IReadOnlyList<Gsm8kItem> Train, IReadOnlyList<Gsm8kItem> Test) Data() =>
        (Gsm8k.Load(SharedData.File("gsm8k/train.jsonl")), Gsm8k.Load(SharedData.File("gsm8k/test.jsonl")));

    [SkippableFact]
    public void Prompts_for_the_first_test_problem_match_the_harness()
    {
        var (train, test) = Data();
        Assert.Equal(7473, train.Count);
        Assert.Equal(1319, test.Count);
        Assert.Equal("18", test[0].Final);
        Assert.Equal($"Question: {Janet}\nAnswer:", Gsm8k.Prompt(test[0], train, new Gsm8kOptions { Shots = 0 }));
        Assert.Equal($"Question: {Natalia}\nAnswer: {NataliaAnswer}\n\nQuestion: {Janet}\nAnswer:",
            Gsm8k.Prompt(test[0], train, new Gsm8kOptions { Shots = 1 }));
        Assert.Equal(Cot8 + $"Q: {Janet}\nA:",
            Gsm8k.Prompt(test[0], train, new Gsm8kOptions { Variant = Gsm8kVariant.ChainOfThought }));
        var five = Gsm8k.Prompt(test[0], train, new Gsm8kOptions());
        Assert.Equal(6, five.Split("\n\nQuestion: ").Length); // 5 shots, then the problem after a blank line
        Assert.StartsWith($"Question: {Natalia}\nAnswer: {NataliaAnswer}\n\nQuestion: Weng earns", five);
    }

    [Theory]
    [InlineData("18", "Janet sells ...\n#### 18", true)]
    [InlineData("$1,000.", "#### 1000", true)]
    [InlineData("18.5", "#### 18", false)]
    [InlineData(null, "#### 18", false)]
    [InlineData(" 18", "#### 18", false)] // the harness does not strip spaces
    public void Exact_match_uses_the_harness_normalisation(string? prediction, string gold, bool expected) =>
        Assert.Equal(expected, FineTune.Evals.Scoring.Gsm8kAnswers.IsCorrect(prediction, gold));

    [SkippableFact]
    public async Task Suite_scores_each_rule_from_the_extraction_delegate()
    {
        var (train, test) = Data();
        var tokenizer = TokenizerLoader.Load(SharedData.File("models/llama2-tokenizer/tokenizer.model"));
        using var model = new PreferOneTokenModel(tokenizer.VocabSize, tokenizer.EosId!.Value); // ends at once
        var seen = new List<string>();
        var result = await Gsm8k.EvaluateAsync(model, tokenizer, train, test,
            c =>
            {
                seen.Add(c);
                return ("18", null);
            },
            new Gsm8kOptions { Limit = 10, BatchSize = 4 });
        Assert.Equal("gsm8k-harness-v1", result.FormatVersion);
        Assert.Equal(10, seen.Count);
        Assert.All(seen, c => Assert.Equal("", c));
        var strict = result.Metrics.Single(m => m.Name == "gsm8k/exact_match,strict-match");
        Assert.Equal(test.Take(10).Count(t => t.Final == "18") / 10.0, strict.Value, 12);
        Assert.Equal(0, result.Metrics.Single(m => m.Name == "gsm8k/exact_match,flexible-extract").Value);
    }
}
