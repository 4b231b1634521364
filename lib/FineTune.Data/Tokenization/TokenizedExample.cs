// What ExampleTokenizer produces for one record: one sequence (chat, text) or a (chosen, rejected) pair
// sharing a prompt, each as token ids with a loss mask (1 = the model is trained to predict this token).
namespace FineTune.Data.Tokenization;

public sealed record TokenizedSequence(int[] Ids, byte[] Mask)
{
    public int Length => Ids.Length;
    public int TrainedCount => Mask.Count(m => m != 0);
}

/// <summary>
/// Sequences is empty when the record was dropped, holds one sequence for chat and text records and two
/// (chosen, rejected) for preference records; PromptLength is the number of leading tokens the pair shares.
/// </summary>
public sealed record TokenizedExample(TokenizedSequence[] Sequences, int PromptLength, bool Truncated, bool Dropped)
{
    public static readonly TokenizedExample DroppedExample = new([], 0, Truncated: false, Dropped: true);

    public bool IsPair => Sequences.Length == 2;

    /// <summary>Feedback (KTO) examples only: the rating of the one sequence's answer; null otherwise.</summary>
    public bool? Desirable { get; init; }

    /// <summary>The shard kind that holds this example.</summary>
    public ShardKind Kind => IsPair ? ShardKind.Pairs : Desirable is null ? ShardKind.Sequences : ShardKind.Feedback;
}
