// LogLikelihood against recomputation: sum of double log-softmax over ICausalLm.Forward of context + continuation.
using FineTune.Evals;

namespace FineTune.Evals.Tests.Suites;

public class LogLikelihoodTests
{
    static (double LogProb, bool Greedy) Recompute(FineTune.Models.Generation.ICausalLm model, LogLikelihoodRequest r)
    {
        var all = r.Context.Concat(r.Continuation).ToArray();
        var logits = model.Forward(all);
        double sum = 0;
        bool greedy = true;
        for (int j = 0; j < r.Continuation.Count; j++)
        {
            var row = logits[r.Context.Count - 1 + j];
            double max = row.Max(v => (double)v);
            double lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            sum += row[r.Continuation[j]] - lse;
            int arg = Array.IndexOf(row, row.Max());
            greedy &= arg == r.Continuation[j];
        }
        return (sum, greedy);
    }

    [Fact]
    public void Matches_recomputation_for_single_and_multi_token_continuations_with_shared_contexts()
    {
        using var model = RandomLlama.Create();
        var random = new Random(5);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => random.Next(64)).ToArray();
        var contexts = new[] { Tokens(3), Tokens(9), Tokens(1), Tokens(14) };
        var requests = new List<LogLikelihoodRequest>();
        foreach (var ctx in contexts)
            foreach (int len in new[] { 1, 1, 2, 5, 1, 3 })
                requests.Add(new LogLikelihoodRequest(ctx, Tokens(len)));
        // A continuation made of the model's own greedy tokens must come out greedy.
        var greedyCont = new List<int>();
        var seq = contexts[1].ToList();
        for (int k = 0; k < 4; k++)
        {
            var l = model.Forward(seq)[^1];
            int t = Array.IndexOf(l, l.Max());
            greedyCont.Add(t);
            seq.Add(t);
        }
        requests.Add(new LogLikelihoodRequest(contexts[1], greedyCont));

        foreach (int batch in new[] { 1, 3, 64 })
        {
            var got = LogLikelihood.Compute(model, requests, batch);
            Assert.Equal(requests.Count, got.Count);
            for (int i = 0; i < requests.Count; i++)
            {
                var (expected, greedy) = Recompute(model, requests[i]);
                Assert.True(Math.Abs(expected - got[i].LogProb) < 1e-4,
                    $"batch {batch}, request {i}: {got[i].LogProb} vs {expected}");
                Assert.Equal(greedy, got[i].IsGreedy);
            }
            Assert.True(got[^1].IsGreedy);
            Assert.True(got[^1].LogProb < 0);
        }
    }

    [Fact]
    public void Requests_with_one_context_and_single_token_continuations_prefill_it_once()
    {
        using var model = new PreferOneTokenModel(10, favoured: 3);
        var ctx = new[] { 1, 2, 3 };
        var requests = Enumerable.Range(0, 4).Select(t => new LogLikelihoodRequest(ctx, [t + 2])).ToList();
        var got = LogLikelihood.Compute(model, requests);
        Assert.Equal(1, model.PrefilledRows);
        double lse = Math.Log(9 + Math.Exp(5));
        Assert.Equal(5 - lse, got[1].LogProb, 12);
        Assert.Equal(-lse, got[0].LogProb, 12);
        Assert.Equal([false, true, false, false], got.Select(r => r.IsGreedy));
    }

    [Fact]
    public void Empty_continuation_is_certain_and_empty_context_is_rejected()
    {
        using var model = new PreferOneTokenModel(10, favoured: 3);
        Assert.Equal(new LogLikelihoodResult(0, true), LogLikelihood.Compute(model, [new([1], [])])[0]);
        Assert.Throws<ArgumentException>(() => LogLikelihood.Compute(model, [new([], [1])]));
    }
}
