// Task metrics on a prepared split: prompts and references are cut at the last assistant turn, ROUGE aggregates
// per-example F1, and a small random model answers every prompt through the real generation path.
using FineTune.Data;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using FineTune.Text;

namespace FineTune.Evals.Tests;

public class TaskEvalTests
{
    static DataRecord Chat(long line, string user, string assistant) => new()
    {
        Kind = RecordKind.Chat, Line = line,
        Messages = [new Message("system", "Be brief."), new Message("user", user), new Message("assistant", assistant)],
    };

    [Fact]
    public void Examples_end_before_the_last_assistant_turn_and_skip_records_without_one()
    {
        var records = new[] { Chat(1, "2+2?", "4"),
            new DataRecord { Kind = RecordKind.Text, Line = 2, Text = "plain" } };
        var examples = TaskEval.Examples(records).ToList();
        Assert.Single(examples);
        Assert.Equal(["system", "user"], examples[0].Prompt.Select(m => m.Role));
        Assert.Equal("4", examples[0].Reference);
    }

    [Fact]
    public void Rouge_aggregates_the_mean_of_per_example_scores()
    {
        var outputs = new[]
        {
            new TaskOutput(1, [], "the cat sat", "the cat sat"),
            new TaskOutput(2, [], "the cat sat", "a dog ran"),
        };
        var result = TaskEval.Rouge(outputs);
        var rouge1 = result.Metrics.Single(m => m.Name == "rouge/rouge1");
        Assert.Equal(0.5, rouge1.Value, 9);
        Assert.Equal(2, rouge1.Count);
    }

    [Fact]
    public void Bleu_and_chrf_suites_score_the_answers_as_one_corpus()
    {
        // sacrebleu's README sentences against their first references: corpus BLEU 45.0675, chrF2 50.0431.
        var outputs = new[]
        {
            new TaskOutput(1, [], "The dog bit the man.", "The dog bit the man."),
            new TaskOutput(2, [], "It was not unexpected.", "It wasn't surprising."),
            new TaskOutput(3, [], "The man bit him first.", "The man had just bitten him."),
        };
        var bleu = TaskEval.Bleu(outputs).Metrics.Single();
        Assert.Equal("bleu/score", bleu.Name);
        Assert.Equal(45.06750632106114, bleu.Value, 1e-8);
        Assert.True(bleu.Low <= bleu.Value && bleu.Value <= bleu.High);
        var chrf = TaskEval.Chrf(outputs);
        Assert.Equal(50.043063606582294, chrf.Metrics.Single().Value, 1e-8);
        Assert.Equal(3, chrf.Items);
    }

    [SkippableFact]
    public async Task A_model_answers_every_test_prompt_and_sequences_mask_only_answers()
    {
        var tokenizer = TokenizerLoader.Load(SharedData.File("models/llama2-tokenizer/tokenizer.model"));
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = 32000, MaxPositionEmbeddings = 256, TieWordEmbeddings = true,
        };
        var weights = LlamaWeights.Random(config, 5).ToDictionary(t => t.Name);
        using var model = CpuLlama.Load(config, n => weights[n], threads: 1);
        var template = ChatTemplate.For(ChatTemplateKind.Llama2);
        var records = new[] { Chat(1, "Name a colour.", "Blue."), Chat(2, "Name a fruit.", "An apple."),
            Chat(3, "Say hi.", "Hi!") };

        var outputs = await TaskEval.GenerateAsync(model, tokenizer, template, records, maxNewTokens: 5, batchSize: 2,
            limit: null);
        Assert.Equal([1L, 2L, 3L], outputs.Select(o => o.Line));
        Assert.Equal(["Blue.", "An apple.", "Hi!"], outputs.Select(o => o.Reference));

        var sequences = TaskEval.Sequences(records, tokenizer, template, limit: null).ToList();
        Assert.Equal(3, sequences.Count);
        foreach (var s in sequences)
        {
            var trained = s.Ids.Where((_, i) => s.Mask[i] != 0).ToList();
            Assert.InRange(trained.Count, 1, s.Ids.Length / 2);   // the answer (and its closing token), not the prompt
        }
        var perplexity = Perplexity.Evaluate(model, sequences);
        Assert.True(perplexity.Metrics[0].Value > 1);
    }
}
