// Decoding with the KV cache must equal recomputing the whole sequence, and a left-padded batch must equal each prompt
// run alone: the two invariants every fast path is held to.
using FineTune.Models.Generation;

namespace FineTune.Torch.Tests;

public class KvCacheAndBatchingTests
{
    static float MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    [Theory]
    [InlineData(true, false, false, null)]
    [InlineData(false, true, true, null)]
    [InlineData(false, false, false, 3)]
    public void Cached_decoding_equals_recomputation_without_cache(bool bias, bool tied, bool llama3Rope,
        int? slidingWindow)
    {
        using var engine = TestModels.Engine(TestModels.Tiny(bias, tied, llama3Rope, slidingWindow));
        int[] prompt = [1, 5, 9, 3];
        using var session = engine.StartSession(1, 20);
        var logits = session.Prefill([prompt])[0];
        var sequence = prompt.ToList();
        for (int step = 0; step < 10; step++)
        {
            var recomputed = engine.Forward(sequence)[^1];
            Assert.True(MaxDiff(logits, recomputed) < 1e-4,
                $"step {step}: cached and recomputed logits differ by {MaxDiff(logits, recomputed)}");
            int next = Sampler.ArgMax(logits);
            sequence.Add(next);
            logits = session.Step([next])[0];
        }
    }

    [Fact]
    public void Left_padded_batch_equals_each_prompt_alone()
    {
        using var engine = TestModels.Engine(TestModels.Tiny());
        int[][] prompts = [[1, 2, 3], [1, 7, 8, 9, 10, 11, 12], [1, 4, 4, 5, 6]];
        using var batch = engine.StartSession(prompts.Length, 16);
        var batched = batch.Prefill(prompts);
        var alone = prompts.Select(p => engine.StartSession(1, 16)).ToArray();
        var aloneLogits = prompts.Select((p, i) => alone[i].Prefill([p])[0]).ToArray();
        for (int step = 0; step < 5; step++)
        {
            for (int r = 0; r < prompts.Length; r++)
                Assert.True(MaxDiff(batched[r], aloneLogits[r]) < 1e-4,
                    $"row {r}, step {step}: differs by {MaxDiff(batched[r], aloneLogits[r])}");
            var next = batched.Select(l => Sampler.ArgMax(l)).ToArray();
            batched = batch.Step(next);
            aloneLogits = alone.Select((s, r) => s.Step([next[r]])[0]).ToArray();
        }
        foreach (var s in alone)
            s.Dispose();
    }

    [Fact]
    public async Task Batched_generation_gives_each_prompt_its_own_greedy_continuation()
    {
        using var engine = TestModels.Engine(TestModels.Tiny(bias: false));
        var generator = new Generator(engine);
        int[][] prompts = [[1, 2], [1, 9, 9, 9, 4], [3]];
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var batched = await generator.GenerateAsync(prompts, options);
        for (int r = 0; r < prompts.Length; r++)
        {
            var alone = await generator.GenerateAsync([prompts[r]], options);
            Assert.Equal(alone[0].Tokens, batched[r].Tokens);
        }
    }

    [Fact]
    public void Sdpa_and_naive_attention_agree_on_a_padded_batch()
    {
        var config = TestModels.Tiny();
        using var fast = TestModels.Engine(config, useSdpa: true);
        using var naive = TestModels.Engine(config, useSdpa: false);
        int[][] prompts = [[1, 2, 3], [4, 5, 6, 7, 8]];
        using var a = fast.StartSession(2, 8);
        using var b = naive.StartSession(2, 8);
        var la = a.Prefill(prompts);
        var lb = b.Prefill(prompts);
        for (int r = 0; r < 2; r++)
            Assert.True(MaxDiff(la[r], lb[r]) < 1e-5);
    }
}
