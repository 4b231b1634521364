// MMLU: harness prompt strings byte for byte, the loader against the data README's counts, the CSV reader's edge cases,
// and a model that always prefers " A" scoring exactly the share of A answers.
using FineTune.Evals;
using FineTune.Text;

namespace FineTune.Evals.Tests.Suites;

public class MmluTests
{
    const string Question0 =
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. " +
        "6\nAnswer:";
    const string Description = "The following are multiple choice questions (with answers) about abstract algebra.\n\n";
    const string Shots =
        "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n" +
        "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are " +
            "subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\nC. True, False\nD. False, " +
            "True\nAnswer: B\n\n" +
        "Statement 1 | Every element of a group generates a cyclic subgroup of the group. Statement 2 | The " +
            "symmetric group S_10 has 10 elements.\nA. True, True\nB. False, False\nC. True, False\nD. False, " +
            "True\nAnswer: C\n\n" +
        "Statement 1| Every function from a finite set onto itself must be one to one. Statement 2 | Every subgroup " +
            "of an abelian group is abelian.\nA. True, True\nB. False, False\nC. True, False\nD. False, " +
            "True\nAnswer: A\n\n" +
        "Find the characteristic of the ring 2Z.\nA. 0\nB. 3\nC. 12\nD. 30\nAnswer: A\n\n";

    static string Root => SharedData.File("mmlu/dev") is var dev ? Path.GetDirectoryName(dev)! : "";

    [SkippableFact]
    public void Prompt_for_the_first_abstract_algebra_test_question_matches_the_harness_0_and_5_shot()
    {
        var dev = Mmlu.Load(Root, "dev");
        var item = Mmlu.Load(Root, "test")["abstract_algebra"][0];
        Assert.Equal(1, item.Answer);
        Assert.Equal(Description + Question0, MmluPrompts.Context(item, []));
        Assert.Equal(Description + Shots + Question0,
            MmluPrompts.Context(item, dev["abstract_algebra"].Take(5).ToList()));
    }

    [SkippableFact]
    public void Loader_reads_all_57_subjects_with_the_README_counts()
    {
        foreach (var (split, count) in new[] { ("dev", 285), ("val", 1531), ("test", 14042) })
        {
            var data = Mmlu.Load(Root, split);
            Assert.Equal(57, data.Count);
            Assert.Equal(MmluPrompts.Categories.Keys.Order(StringComparer.Ordinal), data.Keys);
            Assert.Equal(count, data.Values.Sum(v => v.Count));
            Assert.All(data.Values.SelectMany(v => v), i => Assert.Equal(4, i.Choices.Count));
        }
        var test = Mmlu.Load(Root, "test");
        Assert.Equal(100, test["abstract_algebra"].Count);
        Assert.Equal(135, test["anatomy"].Count);
        var letters = test.Values.SelectMany(v => v).GroupBy(i => i.AnswerLetter).ToDictionary(g => g.Key,
            g => g.Count());
        Assert.Equal([3222, 3462, 3582, 3776], "ABCD".Select(c => letters[c]));
    }

    [Fact]
    public void Categories_cover_57_subjects_in_four_groups()
    {
        var sizes = MmluPrompts.Categories.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(57, MmluPrompts.Categories.Count);
        Assert.Equal(19, sizes[MmluPrompts.Stem]);
        Assert.Equal(13, sizes[MmluPrompts.Humanities]);
        Assert.Equal(12, sizes[MmluPrompts.SocialSciences]);
        Assert.Equal(13, sizes[MmluPrompts.Other]);
    }

    [Fact]
    public void Csv_reader_handles_quoted_newlines_doubled_quotes_crlf_and_no_final_newline()
    {
        var text = "a,\"b, \"\"c\"\"\r\nd\",e\r\n\"\",x,y\r\nlast,\"q\nr\",z";
        var records = Csv.Parse(text).ToList();
        Assert.Equal(3, records.Count);
        Assert.Equal(["a", "b, \"c\"\r\nd", "e"], records[0].Record);
        Assert.Equal(["", "x", "y"], records[1].Record);
        Assert.Equal(["last", "q\nr", "z"], records[2].Record);
        Assert.Equal([1, 3, 4], records.Select(r => r.Line));
        Assert.Equal(["1", "2"], Csv.Parse("1,2\n").Single().Record);
        Assert.Throws<FormatException>(() => Csv.Parse("\"open,1").ToList());
    }

    [SkippableFact]
    public void A_model_that_always_prefers_A_scores_the_share_of_A_answers()
    {
        var tokenizer = TokenizerLoader.Load(SharedData.File("models/llama2-tokenizer/tokenizer.model"));
        var pair = HarnessEncoding.Pair(tokenizer, Description + Question0, " A", addBos: false);
        int a = Assert.Single(pair.Continuation);
        Assert.Equal("▁A", tokenizer.IdToToken(a));
        using var model = new PreferOneTokenModel(tokenizer.VocabSize, a);

        var result = Mmlu.Evaluate(model, tokenizer, Root, new MmluOptions { Shots = 0, BatchSize = 64 });
        Assert.Equal("mmlu-harness-v1", result.FormatVersion);
        var acc = result.Metrics.Single(m => m.Name == "mmlu/acc");
        Assert.Equal(14042, acc.Count);
        Assert.Equal(3222.0 / 14042, acc.Value, 12);
        Assert.True(acc.Low < acc.Value && acc.Value < acc.High);
        // The four choices share one prefill (and a few duplicate questions in one batch share theirs): not 4 × 14,042.
        Assert.InRange(model.PrefilledRows, 14000, 14042);

        // 5-shot on a subset: per subject accuracy is that subject's share of A.
        var test = Mmlu.Load(Root, "test");
        string[] subjects = ["anatomy", "global_facts", "world_religions"];
        var few = Mmlu.Evaluate(model, tokenizer, Root,
            new MmluOptions { Shots = 5, BatchSize = 7, Subjects = subjects, LimitPerSubject = 40 });
        foreach (var s in subjects)
        {
            var share = test[s].Take(40).Count(i => i.Answer == 0) / 40.0;
            Assert.Equal(share, few.Metrics.Single(m => m.Name == $"mmlu_{s}/acc").Value, 12);
        }
        var macro = few.Metrics.Single(m => m.Name == "mmlu/acc_macro").Value;
        Assert.Equal(subjects.Average(s => test[s].Take(40).Count(i => i.Answer == 0) / 40.0), macro, 12);
        Assert.Equal(40, few.Metrics.Single(m => m.Name == "mmlu_humanities/acc").Count);
        Assert.Equal(40, few.Metrics.Single(m => m.Name == "mmlu_other/acc").Count);
        Assert.Equal(40, few.Metrics.Single(m => m.Name == "mmlu_stem/acc").Count);
        Assert.Equal(120, few.Metrics.Single(m => m.Name == "mmlu/acc").Count);
    }

    [SkippableFact]
    public void A_seeded_sample_takes_a_quarter_from_each_category_and_the_same_questions_every_time()
    {
        var test = Mmlu.Load(Root, "test");
        var all = test.Keys.SelectMany(s => test[s].Select((item, i) => (item, i))).ToList();
        var first = Mmlu.Sampled(all, 200, seed: 7);
        Assert.Equal(200, first.Count);
        Assert.Equal(200, first.Select(w => (w.item.Subject, w.i)).Distinct().Count());
        var perCategory = first.GroupBy(w => MmluPrompts.Categories[w.item.Subject]).ToDictionary(g => g.Key,
            g => g.Count());
        Assert.All(perCategory.Values, n => Assert.Equal(50, n));
        Assert.Equal(first, Mmlu.Sampled(all, 200, seed: 7));
        var other = Mmlu.Sampled(all, 200, seed: 8);
        Assert.True(other.Intersect(first).Count() < 100, "another seed draws other questions");
        // More than a category holds: the others make up the difference, and no question is taken twice.
        var small = all.Where(w => w.item.Subject is "anatomy" or "astronomy" or "virology").ToList();
        var most = Mmlu.Sampled(small, 400, seed: 1);
        Assert.Equal(400, most.Select(w => (w.item.Subject, w.i)).Distinct().Count());
        Assert.Equal(small.Count, Mmlu.Sampled(small, 10_000, seed: 1).Count);
    }

    [Fact]
    public void Wilson_interval_of_half_of_100()
    {
        var (low, high) = Wilson.Interval(50, 100);
        Assert.Equal(0.40383, low, 4);
        Assert.Equal(0.59617, high, 4);
        Assert.Equal((0.0, 0.0), (Wilson.Interval(0, 10).Low, 0.0));
    }
}
