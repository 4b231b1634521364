// log P(continuation | context) over any ICausalLm, as lm-evaluation-harness's loglikelihood requests: one Prefill per
// context serves every single-token continuation of it; a multi-token continuation gets its own row and walks on with
// Step. Log-softmax in double precision; IsGreedy says every continuation token was the argmax.
using FineTune.Models.Generation;

namespace FineTune.Evals;

public sealed record LogLikelihoodRequest(IReadOnlyList<int> Context, IReadOnlyList<int> Continuation);

/// <summary>Truncated: the context lost tokens from its left to fit the model (the continuation is always
/// whole).</summary>
public sealed record LogLikelihoodResult(double LogProb, bool IsGreedy, bool Truncated = false);

public static class LogLikelihood
{
    // One decode row: a context, the continuation it steps through (if any), and the requests it scores.
    sealed record Row(IReadOnlyList<int> Context, int? Multi, List<int> Requests, bool Truncated);

    /// <summary>
    /// Scores every request; results are in request order. <paramref name="batchSize"/> counts session rows. A context
    /// too long for the model loses tokens from its left, as the harness does; an empty context is an error.
    /// </summary>
    public static IReadOnlyList<LogLikelihoodResult> Compute(ICausalLm model,
        IReadOnlyList<LogLikelihoodRequest> requests,
        int batchSize = 16, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var results = new LogLikelihoodResult?[requests.Count];
        int context = model.Config.MaxPositionEmbeddings;

        // Rows: per distinct context, one row for its single-token continuations and one per multi-token continuation.
        var rows = new List<Row>();
        var shared = new Dictionary<TokenKey, Row>();
        for (int i = 0; i < requests.Count; i++)
        {
            var (ctx, cont) = (requests[i].Context, requests[i].Continuation);
            if (ctx.Count == 0)
                throw new ArgumentException($"request {i} has an empty context (give at least BOS).", nameof(requests));
            if (cont.Count == 0)
            {
                results[i] = new LogLikelihoodResult(0, true);
                continue;
            }
            if (cont.Count > context)
                throw new ArgumentException($"request {i}: continuation of {cont.Count} tokens exceeds the model " +
                    $"context of {context}.", nameof(requests));
            int keep = Math.Min(ctx.Count, context - (cont.Count - 1));
            var trimmed = keep == ctx.Count ? ctx : ctx.Skip(ctx.Count - keep).ToArray();
            bool truncated = keep < ctx.Count;
            if (cont.Count > 1)
            {
                rows.Add(new Row(trimmed, i, [i], truncated));
                continue;
            }
            var key = new TokenKey(trimmed);
            if (!shared.TryGetValue(key, out var row))
                rows.Add(shared[key] = row = new Row(trimmed, null, [], truncated));
            row.Requests.Add(i);
        }

        // Longest rows first, so a batch holds rows of similar length and the first batch shows memory trouble early.
        // A batch is left-padded to its longest context and then stepped as often as its longest continuation needs,
        // so a row joins a batch only while that sum still fits the model's context.
        var ordered = rows.OrderByDescending(r => r.Context.Count + Steps(r, requests)).ToList();
        var batch = new List<Row>();
        int batchContext = 0, batchSteps = 0;
        foreach (var row in ordered)
        {
            int rowSteps = Steps(row, requests);
            bool fits = Math.Max(batchContext, row.Context.Count) + Math.Max(batchSteps, rowSteps) <= context;
            if (batch.Count > 0 && (batch.Count == batchSize || !fits))
            {
                cancellationToken.ThrowIfCancellationRequested();
                RunBatch(model, batch, requests, results);
                batch = [];
                batchContext = batchSteps = 0;
            }
            batch.Add(row);
            batchContext = Math.Max(batchContext, row.Context.Count);
            batchSteps = Math.Max(batchSteps, rowSteps);
        }
        if (batch.Count > 0)
            RunBatch(model, batch, requests, results);
        return results.Select(r => r!).ToArray();
    }

    static int Steps(Row row, IReadOnlyList<LogLikelihoodRequest> requests) =>
        row.Multi is { } m ? requests[m].Continuation.Count - 1 : 0;

    static void RunBatch(ICausalLm model, List<Row> batch, IReadOnlyList<LogLikelihoodRequest> requests,
        LogLikelihoodResult?[] results)
    {
        int steps = batch.Max(r => Steps(r, requests));
        int longest = batch.Max(r => r.Context.Count);
        using var session = model.StartSession(batch.Count, longest + steps);
        var logits = session.Prefill(batch.Select(r => r.Context).ToArray());
        var sums = new double[batch.Count];
        var greedy = new bool[batch.Count];
        for (int b = 0; b < batch.Count; b++)
        {
            foreach (int i in batch[b].Requests)
            {
                var (logProb, isGreedy) = Score(logits[b], requests[i].Continuation[0]);
                if (batch[b].Multi == i)
                    (sums[b], greedy[b]) = (logProb, isGreedy);
                else
                    results[i] = new LogLikelihoodResult(logProb, isGreedy, batch[b].Truncated);
            }
        }

        var next = new int[batch.Count];
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch.Count; b++)
            {
                // A row that has run out of continuation keeps feeding its last token; its logits are ignored.
                var cont = batch[b].Multi is { } m ? requests[m].Continuation : batch[b].Context;
                next[b] = batch[b].Multi is not null && t < cont.Count - 1 ? cont[t] : cont[^1];
            }
            logits = session.Step(next);
            for (int b = 0; b < batch.Count; b++)
            {
                if (batch[b].Multi is not { } m || t + 1 >= requests[m].Continuation.Count)
                    continue;
                var (logProb, isGreedy) = Score(logits[b], requests[m].Continuation[t + 1]);
                sums[b] += logProb;
                greedy[b] &= isGreedy;
            }
        }
        for (int b = 0; b < batch.Count; b++)
            if (batch[b].Multi is { } m)
                results[m] = new LogLikelihoodResult(sums[b], greedy[b], batch[b].Truncated);
    }

    /// <summary>log-softmax(logits)[token] in double precision, and whether token is the (first) argmax.</summary>
    public static (double LogProb, bool IsGreedy) Score(ReadOnlySpan<float> logits, int token)
    {
        if ((uint)token >= (uint)logits.Length)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id must be in [0, {logits.Length}).");
        int best = Sampler.ArgMax(logits);
        double max = logits[best], sum = 0;
        for (int v = 0; v < logits.Length; v++)
            sum += Math.Exp(logits[v] - max);
        return (logits[token] - max - Math.Log(sum), best == token);
    }

    // A token list compared by value, to find requests that share a context.
    readonly struct TokenKey(IReadOnlyList<int> tokens) : IEquatable<TokenKey>
    {
        readonly IReadOnlyList<int> _tokens = tokens;
        readonly int _hash = Hash(tokens);

        static int Hash(IReadOnlyList<int> tokens)
        {
            var h = new HashCode();
            foreach (int t in tokens)
                h.Add(t);
            return h.ToHashCode();
        }

        public bool Equals(TokenKey other) => _hash == other._hash && _tokens.SequenceEqual(other._tokens);
        public override bool Equals(object? obj) => obj is TokenKey k && Equals(k);
        public override int GetHashCode() => _hash;
    }
}
