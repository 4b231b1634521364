// What a generator needs from a model engine (the TorchSharp model, the fast CPU engine): logits for a whole sequence,
// and decode sessions that keep a KV cache for a batch of left-padded sequences.
namespace FineTune.Models.Generation;

public interface ICausalLm : IDisposable
{
    LlamaConfig Config { get; }

    /// <summary>Logits for every position of one sequence, computed without a cache: [T][vocab].</summary>
    float[][] Forward(IReadOnlyList<int> tokens);

    /// <summary>A decoding session for <paramref name="batchSize"/> sequences of at most <paramref name="maxLength"/>
    /// positions.</summary>
    IDecodeSession StartSession(int batchSize, int maxLength);
}

public interface IDecodeSession : IDisposable
{
    int BatchSize { get; }

    /// <summary>Positions filled so far, left padding included.</summary>
    int Length { get; }

    /// <summary>
    /// Left-pads the prompts to the longest one, runs them and fills the cache. Padding is masked out and each row's
    /// positions start at 0 at its first real token, so a row's logits equal those of the prompt run alone.
    /// Returns the logits of each row's last position: [batch][vocab].
    /// </summary>
    float[][] Prefill(IReadOnlyList<IReadOnlyList<int>> prompts);

    /// <summary>
    /// Appends one token per row and returns the logits for the next position: [batch][vocab]. The arrays are the
    /// caller's until the next Step, which may reuse them; copy what must outlive that.
    /// </summary>
    float[][] Step(IReadOnlyList<int> tokens);
}
