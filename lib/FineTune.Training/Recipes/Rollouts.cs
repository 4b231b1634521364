// Sampling completions from the policy as it is at this step — on the TorchSharp model with its adapters applied,
// not merged, or on the managed CPU engine over a merged copy — in one batched decode with a KV cache (prompts × n
// rows). Each row draws from its own sampler seeded by the caller, so the same step of a resumed run draws the same
// tokens. A completion ends with (and keeps) a stop token, or at max_new_tokens.
using FineTune.Models.Generation;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public static class Rollouts
{
    /// <returns>for each prompt, its n completions (row p·n + k is prompt p's k-th)</returns>
    public static int[][] Sample(Llama model, IReadOnlyList<int[]> prompts, int n, GenerationOptions options,
        Func<int, int, int> seedOf, IReadOnlyCollection<int> stops)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // not disposed: the model is the trainer's
        return Sample(new TorchLlamaEngine(model), prompts, n, options, seedOf, stops);
    }

    /// <summary>The same draws from any engine: the managed CPU engine over a merged copy of the policy.</summary>
    public static int[][] Sample(ICausalLm engine, IReadOnlyList<int[]> prompts, int n, GenerationOptions options,
        Func<int, int, int> seedOf, IReadOnlyCollection<int> stops)
    {
        int rows = prompts.Count * n;
        int longest = prompts.Max(p => p.Length);
        int budget = Math.Min(options.MaxNewTokens, engine.Config.MaxPositionEmbeddings - longest);
        var completions = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        if (budget <= 0)
            return [.. completions.Select(c => c.ToArray())];
        using var session = engine.StartSession(rows, longest + budget);
        var samplers = Enumerable.Range(0, rows)
            .Select(r => new Sampler(options with { Seed = seedOf(r / n, r % n) })).ToArray();
        var histories = Enumerable.Range(0, rows).Select(r => new List<int>(prompts[r / n])).ToArray();
        var done = new bool[rows];
        var next = new int[rows];
        var logits = session.Prefill([.. Enumerable.Range(0, rows).Select(r => (IReadOnlyList<int>)prompts[r / n])]);
        for (int step = 0; step < budget; step++)
        {
            for (int r = 0; r < rows; r++)
            {
                if (done[r])
                    continue;   // keeps feeding its last token; its logits are ignored
                next[r] = samplers[r].Next(logits[r], histories[r]);
                histories[r].Add(next[r]);
                completions[r].Add(next[r]);
                done[r] = stops.Contains(next[r]);
            }
            if (done.All(d => d) || step == budget - 1)
                break;
            logits = session.Step(next);
        }
        return [.. completions.Select(c => c.ToArray())];
    }

    /// <summary>A seed from several numbers, the same in every process (not HashCode, which is salted).</summary>
    public static int Seed(params ReadOnlySpan<int> parts)
    {
        ulong h = 0x9E3779B97F4A7C15;
        foreach (var part in parts)
        {
            h ^= (uint)part;
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9;   // SplitMix64's finaliser
            h = (h ^ (h >> 27)) * 0x94D049BB133111EB;
            h ^= h >> 31;
        }
        return (int)(h & int.MaxValue);
    }
}
