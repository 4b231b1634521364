// GSM8K prompts as lm-evaluation-harness writes them: `gsm8k` ("Question: …\nAnswer:", full worked answers of the first
// K train rows as shots) and `gsm8k_cot` ("Q: …\nA:", the 8 fixed chain-of-thought exemplars of gsm8k-cot.yaml v3.0,
// whose YAML line folding turns each wrapped line break into one space).
namespace FineTune.Evals;

/// <summary>One GSM8K problem; <see cref="Answer"/> is the worked solution ending "#### n".</summary>
public sealed record Gsm8kItem(string Question, string Answer)
{
    /// <summary>What follows the last "####", trimmed (the harness's gsm8k_cot doc_to_target).</summary>
    public string Final => Answer[(Answer.LastIndexOf("####", StringComparison.Ordinal) + 4)..].Trim();
}

public enum Gsm8kVariant { Standard, ChainOfThought }

public static class Gsm8kPrompts
{
    public const string FewShotSeparator = "\n\n";

    /// <summary>The harness's `gsm8k` generation stops.</summary>
    public static IReadOnlyList<string> StandardStops { get; } = ["Question:", "</s>", "<|im_end|>"];

    /// <summary>The harness's `gsm8k_cot` v3.0 stops are "Q:", "</s>", "<|im_end|>"; "\n\n" (earlier versions' stop) is
    /// added as the brief asked: the next exemplar always follows a blank line, so it only ends generation
    /// sooner.</summary>
    public static IReadOnlyList<string> ChainOfThoughtStops { get; } = ["Q:", "</s>", "<|im_end|>", "\n\n"];

    public static IReadOnlyList<(string Question, string Target)> ChainOfThoughtExemplars { get; } =
    [
        ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, " +
            "there will be 21 trees. How many trees did the grove workers plant today?",
         "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have " +
             "been 21 - 15 = 6. The answer is 6."),
        ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
         "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
        ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
         "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating " +
             "35, they had 74 - 35 = 39. The answer is 39."),
        ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did " +
            "Jason give to Denny?",
         "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. " +
             "The answer is 8."),
        ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have " +
            "now?",
         "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = " +
             "9. The answer is 9."),
        ("There were nine computers in the server room. Five more computers were installed each day, from monday to " +
            "thursday. How many computers are now in the server room?",
         "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 " +
             "computers were added. 9 + 20 is 29. The answer is 29."),
        ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf " +
            "balls did he have at the end of wednesday?",
         "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, " +
             "he had 35 - 2 = 33 golf balls. The answer is 33."),
        ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
         "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars " +
             "left. 23 - 15 is 8. The answer is 8."),
    ];

    public static string StandardDocToText(string question) => $"Question: {question}\nAnswer:";

    public static string ChainOfThoughtDocToText(string question) => $"Q: {question}\nA:";

    /// <summary>`gsm8k`: each shot "Question: q\nAnswer: full answer", then the question; joined by "\n\n".</summary>
    public static string Standard(Gsm8kItem item, IReadOnlyList<Gsm8kItem> shots) =>
        string.Join(FewShotSeparator,
            shots.Select(s => StandardDocToText(s.Question) + " " + s.Answer).Append(StandardDocToText(item.Question)));

    /// <summary>`gsm8k_cot`: the first <paramref name="shots"/> (default all 8) exemplars "Q: q\nA: target", then the
    /// question.</summary>
    public static string ChainOfThought(Gsm8kItem item, int shots = 8) =>
        string.Join(FewShotSeparator,
            ChainOfThoughtExemplars.Take(shots).Select(e => ChainOfThoughtDocToText(e.Question) + " " + e.Target)
            .Append(ChainOfThoughtDocToText(item.Question)));
}
