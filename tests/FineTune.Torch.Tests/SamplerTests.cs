// Sampling semantics on hand-made logits: greedy, top-k and top-p never pick outside their set, the seed reproduces,
// and the repetition penalty follows Hugging Face (divide positive logits, multiply negative ones).
using FineTune.Models.Generation;

namespace FineTune.Torch.Tests;

public class SamplerTests
{
    static readonly float[] Logits = [2f, 1f, 0.5f, 3f, -1f, 0f];

    [Fact]
    public void Greedy_takes_the_first_maximum() =>
        Assert.Equal(1, Sampler.ArgMax([0f, 5f, 5f, 1f]));

    [Fact]
    public void Top_k_samples_only_among_the_k_best()
    {
        var sampler = new Sampler(new GenerationOptions { Temperature = 5f, TopK = 2, Seed = 1 });
        var seen = Enumerable.Range(0, 300).Select(_ => sampler.Next((float[])Logits.Clone(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 3, 0 }, seen);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_the_mass()
    {
        // softmax at T=1 of [2,1,0.5,3,-1,0]: token 3 has 0.56, token 0 0.21; p = 0.7 needs both.
        var sampler = new Sampler(new GenerationOptions { Temperature = 1f, TopP = 0.7f, Seed = 2 });
        var seen = Enumerable.Range(0, 300).Select(_ => sampler.Next((float[])Logits.Clone(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 3, 0 }, seen);
    }

    [Fact]
    public void Same_seed_same_draws()
    {
        var options = new GenerationOptions { Temperature = 1f, Seed = 42 };
        var a = new Sampler(options);
        var b = new Sampler(options);
        var drawsA = Enumerable.Range(0, 50).Select(_ => a.Next((float[])Logits.Clone(), [])).ToArray();
        var drawsB = Enumerable.Range(0, 50).Select(_ => b.Next((float[])Logits.Clone(), [])).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.True(drawsA.Distinct().Count() > 2, "temperature 1 should visit several tokens");
    }

    [Fact]
    public void Repetition_penalty_can_flip_the_greedy_choice()
    {
        var logits = (float[])Logits.Clone();
        var sampler = new Sampler(new GenerationOptions { RepetitionPenalty = 2f });
        Assert.Equal(0, sampler.Next(logits, [3])); // 3 / 2 = 1.5 < 2
        Assert.Equal(1.5f, logits[3]);
    }
}
