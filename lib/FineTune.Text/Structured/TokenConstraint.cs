// Constrained decoding: before each draw, the tokens whose bytes cannot continue a text of the grammar are masked out
// of the logits; the stop tokens only once the document may end. A mask depends only on the grammar state's key, so
// it is built once (walking the vocabulary trie) and then shared by every sequence of every request with the same
// response format that reaches that state. Near the token budget, tokens after which the document could no longer be
// closed in the tokens left are dropped too, so a document finishes within max_tokens whenever it can.
using System.Collections.Concurrent;

namespace FineTune.Text.Structured;

/// <summary>Which tokens may come next (a bit per token), and the tokens that raise the bytes the document still needs
/// (<see cref="Rising"/>, by how much, largest first): near the budget only those can be the ones to drop.</summary>
internal sealed record TokenMask(ulong[] Bits, (int Id, int Rise)[] Rising)
{
    public int MaxRise => Rising.Length == 0 ? 0 : Rising[0].Rise;
}

/// <summary>A grammar over one tokenizer's vocabulary, with its masks cache; safe to share between threads.</summary>
public sealed class ConstrainedVocabulary(JsonGrammar grammar, TokenTrie trie, IReadOnlyList<int> stopIds)
{
    /// <summary>Masks kept per grammar (a mask is one bit per token).</summary>
    public const int MaxCachedMasks = 2_048;

    readonly ConcurrentDictionary<string, TokenMask> _masks = new();

    public JsonGrammar Grammar { get; } = grammar;
    public TokenTrie Trie { get; } = trie;
    public IReadOnlyList<int> StopIds { get; } = stopIds;
    public int CachedMasks => _masks.Count;

    public TokenConstraint Start() => new(this);

    internal TokenMask Mask(JsonState state)
    {
        var key = state.Key(Trie.MaxTokenBytes);
        if (_masks.TryGetValue(key, out var mask))
            return mask;
        mask = Build(state, budget: null);
        if (_masks.Count < MaxCachedMasks)
            _masks.TryAdd(key, mask);
        return mask;
    }

    /// <summary>Walks the trie from <paramref name="state"/>. With a <paramref name="budget"/>, keeps only the tokens
    /// after which the document can be finished in that many bytes (or, when none can, those that leave the least).
    /// </summary>
    internal TokenMask Build(JsonState state, int? budget)
    {
        var bits = new ulong[(Trie.VocabSize + 63) / 64];
        var buffers = new List<List<Stack?>>();
        int start = state.MinBytes, least = int.MaxValue;
        var closest = new List<int>();
        var rising = new List<(int Id, int Rise)>();
        Walk(Trie.Root, state.Configurations, 0);
        if (budget is not null && bits.All(w => w == 0))
            foreach (var id in closest)
                bits[id >> 6] |= 1UL << (id & 63);
        return new TokenMask(bits, [.. rising.OrderByDescending(r => r.Rise)]);

        void Walk(TokenTrie.Node node, IReadOnlyList<Stack?> from, int depth)
        {
            if (buffers.Count == depth)
                buffers.Add([]);
            var next = buffers[depth];
            for (int c = 0; c < node.Children.Length; c++)
            {
                next.Clear();
                JsonState.Step(from, node.Bytes[c], next);
                if (next.Count == 0)
                    continue;
                var child = node.Children[c];
                if (child.Ids.Length > 0)
                {
                    int need = next.Min(JsonState.MinBytesAt);
                    if (need > start)
                        foreach (var id in child.Ids)
                            rising.Add((id, need - start));
                    if (budget is null || need <= budget)
                        foreach (var id in child.Ids)
                            bits[id >> 6] |= 1UL << (id & 63);
                    if (budget is not null && need <= least)
                    {
                        if (need < least)
                            closest.Clear();
                        least = need;
                        closest.AddRange(child.Ids);
                    }
                }
                if (child.Children.Length > 0)
                    Walk(child, next, depth + 1);
            }
        }
    }
}

/// <summary>One sequence's place in the grammar.</summary>
public sealed class TokenConstraint
{
    readonly ConstrainedVocabulary _vocabulary;
    JsonState _state;

    internal TokenConstraint(ConstrainedVocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        _state = vocabulary.Grammar.Start();
    }

    /// <summary>The document is complete: only a stop token may follow.</summary>
    public bool IsComplete => _state.IsComplete;

    /// <summary>The text so far may end here.</summary>
    public bool CanEnd => _state.CanEnd;

    /// <summary>Sets the logits of the tokens that may not come next to -∞. <paramref name="tokensLeft"/> counts this
    /// one. False when no token may come (the document is complete and the model has no stop token): end the
    /// sequence.</summary>
    public bool Apply(Span<float> logits, int tokensLeft)
    {
        // Near the budget (when some token could leave more to write than the tokens left): only the tokens after
        // which the rest still fits, each later token writing a byte at least and the stop token needing one.
        var mask = _vocabulary.Mask(_state);
        int after = tokensLeft - 1 - (_vocabulary.StopIds.Count > 0 ? 1 : 0);
        var bits = mask.Bits;
        int needNow = _state.MinBytes;
        if (needNow + mask.MaxRise > after)
        {
            if (needNow > after)
                bits = _vocabulary.Build(_state, budget: after).Bits;   // over budget already: the shortest way out
            else
            {
                // only a token that raises the need can leave more to write than the tokens left
                bits = (ulong[])bits.Clone();
                foreach (var (id, rise) in mask.Rising)
                {
                    if (needNow + rise <= after)
                        break;
                    bits[id >> 6] &= ~(1UL << (id & 63));
                }
            }
        }
        var stops = _vocabulary.StopIds;
        Span<float> stopLogits = stackalloc float[Math.Min(stops.Count, 16)];
        for (int i = 0; i < stopLogits.Length; i++)
            stopLogits[i] = (uint)stops[i] < (uint)logits.Length ? logits[stops[i]] : 0;
        bool any = false;
        for (int w = 0; w < bits.Length; w++)
        {
            ulong word = bits[w];
            any |= word != 0;
            if (word == ulong.MaxValue)
                continue;
            int end = Math.Min(logits.Length, (w + 1) * 64);
            for (int id = w * 64; id < end; id++)
                if ((word & (1UL << (id & 63))) == 0)
                    logits[id] = float.NegativeInfinity;
        }
        // ids past the tokenizer's vocabulary (a padded embedding) are never text
        for (int id = bits.Length * 64; id < logits.Length; id++)
            logits[id] = float.NegativeInfinity;
        // stop tokens write no text, so the mask cleared them: their own logits come back once the text may end
        bool stop = _state.CanEnd && stopLogits.Length > 0;
        for (int i = 0; i < stopLogits.Length; i++)
            if ((uint)stops[i] < (uint)logits.Length)
                logits[stops[i]] = stop ? stopLogits[i] : float.NegativeInfinity;
        return any || stop;
    }

    /// <summary>Moves on by the token drawn (a stop token ends the text and changes nothing).</summary>
    public void Accept(int token)
    {
        if (_vocabulary.StopIds.Contains(token))
            return;
        var bytes = (uint)token < (uint)_vocabulary.Trie.VocabSize ? _vocabulary.Trie.TokenBytes[token] : null;
        if (bytes is null)
            throw new InvalidOperationException($"token {token} writes no text and cannot continue the document");
        var state = _state;
        foreach (var b in bytes)
            state = state.Step(b) ?? throw new InvalidOperationException(
                $"token {token} does not continue the document (it was not allowed by the mask)");
        _state = state;
    }
}
