// Autoregressive generation over any ICausalLm: batched prompts (left-padded by the session), a KV cache, streaming
// of tokens as they come, and stop conditions per row.
using System.Runtime.CompilerServices;

namespace FineTune.Models.Generation;

public sealed class Generator(ICausalLm model)
{
    /// <summary>Streams tokens as they are produced. <paramref name="detokenize"/> is needed only for stop
    /// strings.</summary>
    public async IAsyncEnumerable<GeneratedToken> StreamAsync(
        IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options,
        Func<IReadOnlyList<int>, string>? detokenize = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (prompts.Count == 0)
            yield break;
        if (options.StopStrings.Count > 0 && detokenize is null)
            throw new ArgumentException("stop strings need a detokenizer to compare text.", nameof(detokenize));

        int context = model.Config.MaxPositionEmbeddings;
        int longest = prompts.Max(p => p.Count);
        for (int r = 0; r < prompts.Count; r++)
        {
            if (prompts[r].Count == 0)
                throw new ArgumentException($"prompt {r} is empty (give at least one token, e.g. BOS).");
            if (prompts[r].Count > context)
                throw new ArgumentException($"prompt {r} has {prompts[r].Count} tokens, longer than the model " +
                    $"context of {context} (max_position_embeddings).");
        }
        int budget = Math.Min(options.MaxNewTokens, context - longest);
        if (budget <= 0)
        {
            for (int r = 0; r < prompts.Count; r++)
                yield return new GeneratedToken(r, -1, 0, FinishReason.Length);
            yield break;
        }

        using var session = model.StartSession(prompts.Count, longest + budget);
        // One sampler per row; with a seed, row r draws from seed + r so rows differ but every run repeats.
        var samplers = prompts.Select((_,
            r) => new Sampler(options.Seed is { } seed ? options with { Seed = seed + r } : options)).ToArray();
        var histories = prompts.Select(p => new List<int>(p)).ToArray();
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var finished = new bool[prompts.Count];
        var next = new int[prompts.Count];

        var logits = session.Prefill(prompts);
        for (int index = 0; ; index++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (int r = 0; r < prompts.Count; r++)
            {
                // a finished row keeps feeding its last token; its logits are ignored
                if (finished[r])
                    continue;
                int token = samplers[r].Next(logits[r], histories[r]);
                next[r] = token;
                histories[r].Add(token);
                generated[r].Add(token);

                FinishReason? finish = null;
                if (options.StopTokenIds.Contains(token))
                    finish = FinishReason.Stop;
                else if (options.StopStrings.Count > 0 && options.StopStrings.Any(detokenize!(generated[r]).Contains))
                    finish = FinishReason.Stop;
                else if (index + 1 >= budget)
                    finish = FinishReason.Length;
                if (finish is not null)
                    finished[r] = true;
                yield return new GeneratedToken(r, token, index, finish);
            }
            if (finished.All(f => f))
                yield break;
            await Task.Yield(); // let a streaming consumer write out what it got before the next forward pass
            logits = session.Step(next);
        }
    }

    /// <summary>Generates to completion and returns each row's tokens (and text, cut before a stop string, when a
    /// detokenizer is given).</summary>
    public async Task<IReadOnlyList<GenerationResult>> GenerateAsync(
        IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options,
        Func<IReadOnlyList<int>, string>? detokenize = null, CancellationToken cancellationToken = default)
    {
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        var finishes = new FinishReason[prompts.Count];
        await foreach (var t in StreamAsync(prompts, options, detokenize, cancellationToken))
        {
            if (t.TokenId >= 0)
                tokens[t.Row].Add(t.TokenId);
            if (t.Finish is { } f)
                finishes[t.Row] = f;
        }
        return tokens.Select((list, r) =>
        {
            var shown = list.Where(id => !options.StopTokenIds.Contains(id)).ToList();
            var text = detokenize?.Invoke(shown);
            if (text is not null)
                foreach (var stop in options.StopStrings)
                    if (text.IndexOf(stop, StringComparison.Ordinal) is var at and >= 0)
                        text = text[..at];
            return new GenerationResult(list, finishes[r], text);
        }).ToList();
    }
}
