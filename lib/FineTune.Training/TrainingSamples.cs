// Sample answers while training: at every evaluation the model answers the same few validation prompts (greedy, the
// prompt being each example's tokens before its first trained token, the reference the trained tokens after it), so a
// person sees the answers improve and not only the loss. Decoded with the base model's tokenizer; generated on the
// training thread inside one dispose scope, with no gradient, through the same KV-cache session serving uses.
using FineTune.Data.Tokenization;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;

namespace FineTune.Training;

/// <summary>One validation example's answer at one evaluation: which example (its index in the split), its prompt,
/// the reference answer and the model's.</summary>
public sealed record SampleAnswer(int Example, string Prompt, string Reference, string Answer);

sealed class TrainingSamples
{
    readonly Llama _model;
    readonly TextTokenizer _tokenizer;
    readonly int _maxNew;
    readonly int[] _stops;
    readonly List<(int Example, int[] Prompt, int[] Reference)> _examples;

    TrainingSamples(Llama model, TextTokenizer tokenizer, int maxNew,
        List<(int Example, int[] Prompt, int[] Reference)> examples)
    {
        _model = model;
        _tokenizer = tokenizer;
        _maxNew = maxNew;
        _examples = examples;
        _stops = [.. model.Config.EosTokenIds.Concat(tokenizer.StopIds).Distinct()];
    }

    /// <summary>The first eval.sample_prompts validation examples that have a prompt and an answer; null when there
    /// are none to show: no samples asked, no validation, a preference objective, a soft-prompt method (its virtual
    /// tokens are not in the decode path), or a base model without a tokenizer to decode with.</summary>
    public static TrainingSamples? Create(TrainingConfig config, Llama model, TokenizedSplit? validation)
    {
        if (config.Eval.SamplePrompts <= 0 || validation is not { Count: > 0 }
            || config.Objective is not (TrainingObjective.Sft or TrainingObjective.Grpo)
            || config.Method is TrainingMethod.PromptTuning or TrainingMethod.PrefixTuning)
            return null;
        TextTokenizer tokenizer;
        try
        {
            tokenizer = TokenizerLoader.Load(config.BaseModel);
        }
        catch (Exception e) when (e is TokenizerLoadException or FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        var examples = new List<(int, int[], int[])>();
        for (int i = 0; i < validation.Count && examples.Count < config.Eval.SamplePrompts; i++)
        {
            var sequence = validation.Read(i).Sequences is [var only] ? only : null;
            int first = sequence is null ? -1 : Array.IndexOf(sequence.Mask, (byte)1);
            if (sequence is null || first < 1)
                continue;   // a text record trains on every token: no prompt to answer
            int end = first;
            while (end < sequence.Length && sequence.Mask[end] != 0)
                end++;
            examples.Add((i, sequence.Ids[..first], sequence.Ids[first..end]));
        }
        int room = model.Config.MaxPositionEmbeddings - examples.Select(e => e.Item2.Length).DefaultIfEmpty(0).Max();
        return examples.Count == 0 || room < 1 ? null
            : new TrainingSamples(model, tokenizer, Math.Min(config.Eval.SampleMaxNewTokens, room), examples);
    }

    /// <summary>Each prompt's greedy answer, all prompts in one batch.</summary>
    public IReadOnlyList<SampleAnswer> Generate()
    {
        var answers = Recipes.Rollouts.Sample(_model, [.. _examples.Select(e => e.Prompt)], 1,
            new GenerationOptions { MaxNewTokens = _maxNew }, (_, _) => 0, _stops);
        return [.. _examples.Select((e, row) => new SampleAnswer(e.Example, DecodePrompt(e.Prompt), Decode(e.Reference),
            Decode(answers[row]).Trim()))];
    }

    // Prompts keep their template markup (<|im_start|>assistant): the reader sees what the model was given.
    string DecodePrompt(IReadOnlyList<int> ids) => _tokenizer.Decode(ids, skipSpecialTokens: false);

    string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids.Where(id => !_stops.Contains(id)));
}
