// What GRPO optimises: reward functions that score sampled completions. Implement IRewardFunction to add one in C#
// (pass it to Trainer.Create and name it in the config: {"type": "custom", "name": "…"}); the built-in ones are in
// this folder.
namespace FineTune.Training.Rewards;

/// <summary>One completion to score: its prompt and completion as token ids and, when the base model has a tokenizer,
/// as text (the completion without its stop token), with the example's reference answer (the trained tokens of the
/// dataset's example).</summary>
public sealed record RewardContext(int[] PromptIds, int[] CompletionIds, string? Prompt, string? Completion,
    string? Reference)
{
    /// <summary>The reference was cut short: the example was longer than the tokenized length (truncation
    /// right).</summary>
    public bool ReferenceCut { get; init; }
}

public interface IRewardFunction
{
    /// <summary>The name metrics report it under (reward/NAME).</summary>
    string Name { get; }

    /// <summary>One score per completion, in order.</summary>
    double[] Score(IReadOnlyList<RewardContext> completions);
}

/// <summary>A reward computed one completion at a time. What the data cannot give it (text without a tokenizer, a
/// reference that is not what it compares with) is an InvalidDataException that says so.</summary>
public abstract class PerCompletionReward : IRewardFunction
{
    public abstract string Name { get; }

    public double[] Score(IReadOnlyList<RewardContext> completions) => completions.Select(Score).ToArray();

    protected abstract double Score(RewardContext completion);

    /// <summary>The completion's text; a clear error when the run has no tokenizer to decode with.</summary>
    protected string Text(RewardContext c) => c.Completion ?? throw new InvalidDataException(
        $"reward '{Name}' reads text, and the base model has no tokenizer files to decode completions with.");

    protected string Reference(RewardContext c) => c.ReferenceCut
        ? throw new InvalidDataException($"reward '{Name}' compares with the example's reference answer, and one " +
            "was cut at the tokenized length: tokenize with truncation drop (or a longer max_length) so every " +
            "reference is whole.")
        : c.Reference ?? throw new InvalidDataException(
            $"reward '{Name}' compares with the example's reference answer, and this example has none.");
}
