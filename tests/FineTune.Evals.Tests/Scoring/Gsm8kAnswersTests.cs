// GSM8K extraction and the harness's exact-match normalisation, on hand cases and on every gold answer of the real
// train and test splits (strict must recover the number after ####, flexible must agree with it after normalising).
using System.Text.Json;
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class Gsm8kAnswersTests
{
    [Theory]
    [InlineData("$1,234.", "1234", true)]
    [InlineData("1,234", "1234", true)]
    [InlineData("-7", "-7", true)]
    [InlineData("1234.5", "1234", false)]
    [InlineData("1234.00", "1234", false)]   // only one trailing '.' is removed; the harness does not parse numbers
    [InlineData("7", "-7", false)]
    [InlineData("Step one.\n#### 42", "42", true)]   // everything through the last "#### " is ignored
    public void Harness_normalisation(string extracted, string gold, bool correct) =>
        Assert.Equal(correct, Gsm8kAnswers.IsCorrect(extracted, gold));

    [Fact]
    public void Missing_extraction_is_never_correct() => Assert.False(Gsm8kAnswers.IsCorrect(null, "5"));

    [Fact]
    public void Strict_takes_the_first_hashes_answer_and_flexible_the_last_number()
    {
        var (strict, flexible) = Gsm8kAnswers.Extract("3 + 4 = 7\n#### -1,000\nThen 12 more and $15.",
            Gsm8kFormat.Gsm8k);
        Assert.Equal("-1,000", strict);
        Assert.Equal("$15.", flexible);
        Assert.True(Gsm8kAnswers.IsCorrect(flexible, "15"));
    }

    [Fact]
    public void Flexible_takes_a_single_digit_through_the_second_alternative()
    {
        Assert.Equal((null, "5"), Gsm8kAnswers.Extract("I think it is 5 apples", Gsm8kFormat.Gsm8k));
        Assert.Equal((null, null), Gsm8kAnswers.Extract("no numbers here", Gsm8kFormat.Gsm8k));
    }

    [Fact]
    public void Cot_strict_pattern_consumes_one_character_after_the_number()
    {
        Assert.Equal("42", Gsm8kAnswers.Extract("So 6 * 7 = 42. The answer is 42.", Gsm8kFormat.Cot).Strict);
        // The pattern ends in an unescaped '.', which must consume a character: at the very end of the text the number
        // backtracks and loses its last digit, exactly as Python's re does in the harness.
        Assert.Equal("4", Gsm8kAnswers.Extract("The answer is 42", Gsm8kFormat.Cot).Strict);
        Assert.Null(Gsm8kAnswers.Extract("The answer is 7", Gsm8kFormat.Cot).Strict);
        Assert.Null(Gsm8kAnswers.Extract("#### 42", Gsm8kFormat.Cot).Strict);
    }

    [Fact]
    public void Gold_is_the_text_after_the_hashes()
    {
        Assert.Equal("1,200", Gsm8kAnswers.Gold("He earns 1200 <<12*100=1200>>.\n#### 1,200"));
        Assert.Throws<FormatException>(() => Gsm8kAnswers.Gold("no marker"));
    }

    [SkippableTheory]
    [InlineData("gsm8k/train.jsonl", 7473)]
    [InlineData("gsm8k/test.jsonl", 1319)]
    public void Every_gold_answer_extracts_by_both_rules(string file, int expectedLines)
    {
        var path = SharedData.File(file);
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            var answer = JsonDocument.Parse(line).RootElement.GetProperty("answer").GetString()!;
            var gold = Gsm8kAnswers.Gold(answer);
            var (strict, flexible) = Gsm8kAnswers.Extract(answer, Gsm8kFormat.Gsm8k);
            Assert.True(strict == gold, $"{file}:{n}: strict {strict ?? "(none)"} != gold {gold}");
            Assert.True(flexible is not null && Gsm8kAnswers.Normalize(flexible) == Gsm8kAnswers.Normalize(gold),
                $"{file}:{n}: flexible {flexible ?? "(none)"} disagrees with gold {gold}");
            Assert.True(Gsm8kAnswers.IsCorrect(strict, answer) && Gsm8kAnswers.IsCorrect(flexible, answer),
                $"{file}:{n}: not correct against the full answer field");
        }
        Assert.Equal(expectedLines, n);
    }
}
