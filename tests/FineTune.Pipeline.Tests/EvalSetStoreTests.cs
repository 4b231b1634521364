// Evaluation sets in the artifact store: each kind is checked when added, the same files again add no version, changed
// files add the next one, a name keeps its kind, and a pipeline config's reference resolves to the newest or the named
// version — or fails saying how to add the set.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Pipeline.EvalSets;

namespace FineTune.Pipeline.Tests;

public class EvalSetStoreTests
{
    static async Task<EvalSetStore> Store(string root)
    {
        var store = new LocalArtifactStore(root);
        await store.EnsureBucketsAsync(Buckets.All);
        return new EvalSetStore(store);
    }

    /// <summary>A small MMLU-layout folder: two subjects, dev and test.</summary>
    public static string MmluFolder(string dir, string answer = "B")
    {
        foreach (var split in new[] { "dev", "test" })
        {
            Directory.CreateDirectory(Path.Combine(dir, split));
            foreach (var subject in new[] { "anatomy", "virology" })
                File.WriteAllLines(Path.Combine(dir, split, $"{subject}_{split}.csv"),
                    Enumerable.Range(0, 6).Select(i =>
                        $"\"What is {subject} {i}, really?\",one,two,three,four,{answer}"));
        }
        return dir;
    }

    [Fact]
    public async Task Adding_the_same_files_again_keeps_the_version_and_changed_files_make_the_next()
    {
        using var tmp = new TempDir();
        var sets = await Store(Path.Combine(tmp.Path, "store"));
        var (first, added) = await sets.AddAsync("mmlu-mini", MmluFolder(Path.Combine(tmp.Path, "a")),
            EvalSetKind.Mmlu);
        Assert.True(added);
        Assert.Equal((1, 4), (first.Version, first.Files));

        var (again, addedAgain) = await sets.AddAsync("mmlu-mini", MmluFolder(Path.Combine(tmp.Path, "b")),
            EvalSetKind.Mmlu);
        Assert.False(addedAgain);
        Assert.Equal(first.Sha256, again.Sha256);

        var (second, _) = await sets.AddAsync("mmlu-mini", MmluFolder(Path.Combine(tmp.Path, "c"), answer: "C"),
            EvalSetKind.Mmlu);
        Assert.Equal(2, second.Version);
        Assert.NotEqual(first.Sha256, second.Sha256);
        Assert.Equal([1, 2], (await sets.ListAsync("mmlu-mini")).Select(s => s.Version));

        Assert.Equal(2, (await sets.ResolveAsync("mmlu-mini", null, EvalSetKind.Mmlu, "evaluation.mmlu.set")).Version);
        Assert.Equal(first.Sha256,
            (await sets.ResolveAsync("mmlu-mini", 1, EvalSetKind.Mmlu, "evaluation.mmlu.set")).Sha256);
        var missing = await Assert.ThrowsAsync<EvalSetNotFoundException>(() =>
            sets.ResolveAsync("mmlu-mini", 7, EvalSetKind.Mmlu, "evaluation.mmlu.set"));
        Assert.Contains("it has versions 1, 2", missing.Message);
        var none = await Assert.ThrowsAsync<EvalSetNotFoundException>(() =>
            sets.ResolveAsync("gsm8k", null, EvalSetKind.Gsm8k, "evaluation.gsm8k.set"));
        Assert.Contains("finetune evalsets add gsm8k PATH --kind gsm8k", none.Message);
        var kind = await Assert.ThrowsAsync<EvalSetNotFoundException>(() =>
            sets.ResolveAsync("mmlu-mini", null, EvalSetKind.Gsm8k, "evaluation.gsm8k.set"));
        Assert.Contains("is a mmlu set, not gsm8k", kind.Message);
        await Assert.ThrowsAsync<ArgumentException>(() =>
            sets.AddAsync("mmlu-mini", Path.Combine(tmp.Path, "a", "test", "anatomy_test.csv"), EvalSetKind.Rubric));
    }

    [Fact]
    public async Task Each_kind_is_checked_when_added_and_a_broken_set_adds_nothing()
    {
        using var tmp = new TempDir();
        var sets = await Store(Path.Combine(tmp.Path, "store"));
        var broken = MmluFolder(Path.Combine(tmp.Path, "broken"));
        File.AppendAllText(Path.Combine(broken, "test", "anatomy_test.csv"), "question,a,b,c,d,E\n");
        var error = await Assert.ThrowsAsync<InvalidDatasetException>(() =>
            sets.AddAsync("m", broken, EvalSetKind.Mmlu));
        Assert.Contains("anatomy_test.csv:7", error.Message);
        Assert.Contains("not A–D", error.Message);

        var gsm8k = Path.Combine(tmp.Path, "gsm8k.jsonl");
        File.WriteAllText(gsm8k, "{\"question\": \"1+1?\", \"answer\": \"2\\n#### 2\"}\n{\"question\": \"x\"}\n");
        Assert.Contains(":2: missing string field 'answer'",
            (await Assert.ThrowsAsync<InvalidDatasetException>(() => sets.AddAsync("g", gsm8k, EvalSetKind.Gsm8k)))
            .Message);
        var rubric = Path.Combine(tmp.Path, "rubric.md");
        File.WriteAllText(rubric, "  \n");
        Assert.Contains("empty", (await Assert.ThrowsAsync<InvalidDatasetException>(() =>
            sets.AddAsync("r", rubric, EvalSetKind.Rubric))).Message);
        Assert.Throws<ArgumentException>(() => sets.AddAsync("../up", rubric, EvalSetKind.Rubric).GetAwaiter()
            .GetResult());
        Assert.Empty(await sets.ListAsync());

        File.WriteAllText(gsm8k, "{\"question\": \"1+1?\", \"answer\": \"2\\n#### 2\"}\n");
        File.WriteAllText(rubric, "Correct category first, then a short summary.");
        Assert.True((await sets.AddAsync("g", gsm8k, EvalSetKind.Gsm8k)).Added);
        Assert.True((await sets.AddAsync("r", rubric, EvalSetKind.Rubric)).Added);
        Assert.Equal(["g", "r"], (await sets.ListAsync()).Select(s => s.Name));
    }
}
