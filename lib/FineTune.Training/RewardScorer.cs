// Scores (prompt, response) pairs with a trained reward model: a full one (an HF …ForSequenceClassification
// directory, tokenizer files beside it) or a base with a SEQ_CLS LoRA adapter (its score head saved in the adapter).
// The text is rendered exactly as training rendered a preference pair — the same chat template, BOS and EOS — and
// the score is read at the last token. Used by `finetune reward score`.
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Models.Adapters;
using FineTune.Text;
using FineTune.Torch;

namespace FineTune.Training;

/// <summary>One thing to score: the conversation so far (ending with the user's turn) and the assistant's
/// answer.</summary>
public sealed record RewardItem(IReadOnlyList<Message> Prompt, string Response);

public sealed class RewardScorer : IDisposable
{
    const int BatchSize = 8;
    readonly Llama _model;
    readonly ExampleTokenizer? _tokenizer;
    readonly string _source;

    RewardScorer(Llama model, ExampleTokenizer? tokenizer, string source)
    {
        _model = model;
        _tokenizer = tokenizer;
        _source = source;
    }

    ExampleTokenizer Tokenizer => _tokenizer ?? throw new TokenizerLoadException($"'{_source}' has no tokenizer " +
        "files: it scores token ids (as a GRPO or PPO reward) but cannot render text.");

    /// <param name="model">a reward model directory, or with <paramref name="adapter"/> its base</param>
    /// <param name="adapter">a SEQ_CLS LoRA adapter directory (from `finetune train` with objective
    /// reward_model)</param>
    /// <param name="template">the chat template the training data was tokenized with; default: the tokenizer's own,
    /// else chatml (as `finetune data tokenize`)</param>
    public static RewardScorer Open(string model, string? adapter = null, ChatTemplateKind? template = null)
    {
        var settings = adapter is null ? null : AdapterSettings(adapter);
        if (adapter is null && !HasScoreHead(model))
            throw new InvalidDataException($"'{model}' is not a reward model (no …ForSequenceClassification " +
                "config.json): give a model trained with objective reward_model, or its base with --adapter.");
        TextTokenizer? tokenizer = null;
        try
        {
            tokenizer = TokenizerLoader.Load(model);
        }
        catch (Exception e) when (e is TokenizerLoadException or IOException)
        {
            // scoring token ids needs none; rendering text says so when asked
        }
        var rewardModel = Trainer.CheckBase(model, () => LlamaCheckpoints.LoadRewardModel(model, ScalarType.Float32,
            settings));
        try
        {
            if (adapter is not null)
                TrainingCheckpoints.RestoreWeights(rewardModel, adapter);
            var chat = template is { } kind ? ChatTemplate.For(kind) : tokenizer?.ChatTemplate
                ?? ChatTemplate.For(ChatTemplateKind.ChatMl);
            var options = new TokenizeOptions { MaxLength = null };
            return new RewardScorer(rewardModel,
                tokenizer is null ? null : new ExampleTokenizer(tokenizer, chat, options), model);
        }
        catch
        {
            rewardModel.Dispose();
            throw;
        }
    }

    static bool HasScoreHead(string model) =>
        Models.Checkpoints.HfCheckpoint.IsCheckpointDirectory(model)
        && Models.LlamaConfig.Load(Path.Combine(model, Models.Checkpoints.HfCheckpoint.ConfigFile))
            .IsSequenceClassifier;

    static LoraSettings AdapterSettings(string directory)
    {
        var config = PeftAdapter.ClassifierConfig(directory);
        return new LoraSettings(config.R, config.LoraAlpha, config.TargetModules, 0, config.UseRslora,
            UseDora: config.UseDora);
    }

    /// <summary>The token ids the model reads for one item: the prompt and the response as a chosen
    /// completion.</summary>
    public int[] Tokenize(RewardItem item, long index)
    {
        if (item.Prompt.Count == 0 || item.Prompt[^1].Role != "user")
            throw new ArgumentException($"item {index}: the prompt must end with a user turn.", nameof(item));
        Message[] answer = [new("assistant", item.Response)];
        var record = new DataRecord
        {
            Kind = RecordKind.Preference, Line = index, Messages = item.Prompt, Chosen = answer, Rejected = answer,
        };
        var ids = Tokenizer.Tokenize(record).Sequences[0].Ids;
        int context = _model.Config.MaxPositionEmbeddings;
        if (ids.Length > context)
            throw new InvalidDataException($"item {index} has {ids.Length} tokens, more than the model's context of " +
                $"{context}: shorten the prompt or the response.");
        return ids;
    }

    /// <summary>One reward per item, in order.</summary>
    public float[] Score(IReadOnlyList<RewardItem> items, CancellationToken cancellationToken = default)
    {
        var sequences = items.Select((item, i) => Tokenize(item, i + 1)).ToList();
        cancellationToken.ThrowIfCancellationRequested();
        return ScoreIds(sequences);   // each fits the context (Tokenize checked), so none is cut
    }

    /// <summary>The reward model's vocabulary (a policy it scores must share its tokenizer).</summary>
    public int VocabSize => _model.Config.VocabSize;

    /// <summary>Rewards for sequences that are already tokens (a prompt and its completion, as the policy produced
    /// them).</summary>
    public float[] ScoreIds(IReadOnlyList<int[]> sequences)
    {
        var rewards = new float[sequences.Count];
        using var _ = no_grad();
        for (int start = 0; start < sequences.Count; start += BatchSize)
        {
            using var scope = NewDisposeScope();
            int context = _model.Config.MaxPositionEmbeddings;
            var batch = sequences.Skip(start).Take(BatchSize).Select(s => s.Length <= context ? s : s[^context..])
                .ToList();
            RewardScores.Compute(_model, batch).ToFloat32Array().CopyTo(rewards, start);
        }
        return rewards;
    }

    public void Dispose() => _model.Dispose();
}
