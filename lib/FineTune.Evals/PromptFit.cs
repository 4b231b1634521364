// What an evaluation does with an input longer than the model's context, as lm-evaluation-harness does: a generation
// prompt keeps its rightmost (context - max_new_tokens) tokens; a log-likelihood request keeps its continuation whole
// and loses context tokens from the left (LogLikelihood.Compute). Truncated items are counted in each suite's result.
namespace FineTune.Evals;

public static class PromptFit
{
    /// <summary>
    /// The generation budget and prompt room for a model of <paramref name="context"/> positions. The harness keeps
    /// context - max_new_tokens prompt tokens; when max_new_tokens leaves less than half the context for the prompt,
    /// generation is capped at half the context so a prompt always keeps the other half.
    /// </summary>
    public static (int PromptRoom, int MaxNewTokens) Budget(int context, int maxNewTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(context, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNewTokens, 1);
        int generate = Math.Min(maxNewTokens, context / 2);
        return (context - generate, generate);
    }

    /// <summary>The prompt's rightmost <paramref name="room"/> tokens (left truncation); Truncated when any were
    /// cut.</summary>
    public static (IReadOnlyList<int> Ids, bool Truncated) Left(IReadOnlyList<int> ids, int room)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(room, 1);
        if (ids.Count <= room)
            return (ids, false);
        return (ids.Skip(ids.Count - room).ToArray(), true);
    }
}
