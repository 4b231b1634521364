// How to pick tokens: greedy when Temperature is 0, else temperature / top-k / top-p sampling, with a repetition
// penalty (Hugging Face semantics), stop tokens and stop strings, a token budget and a seed.
namespace FineTune.Models.Generation;

public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public float Temperature { get; init; } = 0f;       // 0 = greedy (argmax)
    public int TopK { get; init; }                      // 0 = off
    public float TopP { get; init; } = 1f;              // 1 = off
    public float RepetitionPenalty { get; init; } = 1f; // 1 = off; > 1 discourages tokens already in the sequence
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    public int? Seed { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxNewTokens, nameof(MaxNewTokens));
        ArgumentOutOfRangeException.ThrowIfNegative(Temperature, nameof(Temperature));
        ArgumentOutOfRangeException.ThrowIfNegative(TopK, nameof(TopK));
        if (TopP is <= 0f or > 1f)
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1].");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RepetitionPenalty, nameof(RepetitionPenalty));
    }
}

public enum FinishReason { Stop, Length }

/// <summary>One token as it is produced, for streaming. <see cref="Row"/> is the prompt's index in the batch.</summary>
public sealed record GeneratedToken(int Row, int TokenId, int Index, FinishReason? Finish);

public sealed record GenerationResult(IReadOnlyList<int> Tokens, FinishReason Finish, string? Text);
