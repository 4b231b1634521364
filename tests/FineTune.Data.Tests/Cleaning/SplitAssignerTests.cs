// Split assignment: proportions, prompt stickiness, near-duplicate groups kept together, validation of fractions.
using FineTune.Data.Cleaning;
using static FineTune.Data.Tests.Cleaning.TestRecords;

namespace FineTune.Data.Tests.Cleaning;

public class SplitAssignerTests
{
    [Fact]
    public void Proportions_hold_on_ten_thousand_records()
    {
        var assigner = new SplitAssigner(new SplitOptions());
        var counts = new int[3];
        for (var i = 0; i < 10_000; i++)
            counts[(int)assigner.Assign(Chat(i + 1, $"question number {i}", "answer"))]++;
        // Binomial standard deviations: 40 (train), 30 (validation, test); allow about 4.
        Assert.InRange(counts[(int)DataSplit.Train], 8000 - 160, 8000 + 160);
        Assert.InRange(counts[(int)DataSplit.Validation], 1000 - 120, 1000 + 120);
        Assert.InRange(counts[(int)DataSplit.Test], 1000 - 120, 1000 + 120);
    }

    [Fact]
    public void The_same_prompt_lands_in_the_same_split_whatever_the_answer()
    {
        var assigner = new SplitAssigner(new SplitOptions { Train = 0.34, Validation = 0.33, Test = 0.33 });
        for (var i = 0; i < 200; i++)
        {
            var first = assigner.Assign(Chat(2 * i + 1, $"Prompt {i}", "answer one", system: "be brief"));
            var second = assigner.Assign(Chat(2 * i + 2, $"  prompt   {i} ", "a different answer", system: "Be brief"));
            Assert.Equal(first, second);
        }
    }

    [Fact]
    public void Splits_are_deterministic_and_the_seed_changes_them()
    {
        var records = Enumerable.Range(1, 300).Select(i => Chat(i, $"q{i}", "a")).ToArray();
        var a = records.Select(new SplitAssigner(new SplitOptions()).Assign).ToArray();
        var b = records.Reverse().Select(new SplitAssigner(new SplitOptions()).Assign).Reverse().ToArray();
        var seeded = records.Select(new SplitAssigner(new SplitOptions { Seed = "other" }).Assign).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, seeded);
    }

    [Fact]
    public void A_near_duplicate_group_never_spans_two_splits()
    {
        var assigner = new SplitAssigner(new SplitOptions { Train = 0.34, Validation = 0.33, Test = 0.33 });
        var records = Enumerable.Range(1, 600).Select(i => Chat(i, $"prompt {i}", "a")).ToArray();
        foreach (var r in records)
            assigner.Add(r);
        // Groups of three consecutive lines, chained (2→1, 3→2): prompts alone would scatter them over the splits.
        for (var i = 0; i < records.Length; i += 3)
        {
            assigner.Link(records[i + 1].Line, records[i].Line);
            assigner.Link(records[i + 2].Line, records[i + 1].Line);
        }
        var scatteredByPrompt = 0;
        for (var i = 0; i < records.Length; i += 3)
        {
            var splits = records.Skip(i).Take(3).Select(assigner.Assign).Distinct().Count();
            Assert.Equal(1, splits);
            if (records.Skip(i).Take(3).Select(assigner.SplitOfPrompt).Distinct().Count() > 1)
                scatteredByPrompt++;
        }
        Assert.True(scatteredByPrompt > 50, "the test needs groups whose prompts alone would disagree");
        Assert.Throws<InvalidOperationException>(() => assigner.Link(1, 4));
    }

    [Fact]
    public void Group_split_does_not_depend_on_link_order()
    {
        var records = Enumerable.Range(1, 5).Select(i => Chat(i, $"p{i}", "a")).ToArray();
        DataSplit GroupSplit(IEnumerable<(long, long)> links)
        {
            var assigner = new SplitAssigner(new SplitOptions { Train = 0.34, Validation = 0.33, Test = 0.33 });
            foreach (var r in records)
                assigner.Add(r);
            foreach (var (x, y) in links)
                assigner.Link(x, y);
            return assigner.Assign(records[0]);
        }
        Assert.Equal(GroupSplit([(2, 1), (3, 1), (4, 3), (5, 4)]), GroupSplit([(5, 4), (4, 3), (1, 2), (3, 2)]));
    }

    [Theory]
    [InlineData(0.8, 0.1, 0.2, "sum to 1")]
    [InlineData(0.9, -0.1, 0.2, "Validation")]
    [InlineData(double.NaN, 0.5, 0.5, "Train")]
    public void Invalid_fractions_are_refused_with_a_clear_message(double train, double validation, double test,
        string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new SplitAssigner(new SplitOptions
        {
            Train = train,
            Validation = validation, Test = test
        }));
        Assert.Contains(expected, error.Message);
    }
}
