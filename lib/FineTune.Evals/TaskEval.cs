// The task metrics of a fine-tune, on the held-out test split of its own data (prepared chat records): the model
// answers each prompt (greedy), and ROUGE or the judge scores the answers against the references; perplexity scores
// the references' tokens directly.
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals.Scoring;
using FineTune.Models.Generation;
using FineTune.Text;

namespace FineTune.Evals;

/// <summary>One test example: the conversation up to the last assistant turn, that turn's text, and the model's answer.</summary>
public sealed record TaskOutput(long Line, IReadOnlyList<ChatMessage> Prompt, string Reference, string Prediction);

public static class TaskEval
{
    public const string RougeFormatVersion = "rouge-task-v1";

    /// <summary>Chat records of a prepared split that end with an assistant turn (the reference).</summary>
    public static IEnumerable<(long Line, IReadOnlyList<ChatMessage> Prompt, string Reference)> Examples(IEnumerable<DataRecord> records)
    {
        foreach (var r in records)
        {
            if (r.Kind != RecordKind.Chat || r.Messages.Count < 2 || r.Messages[^1].Role != "assistant") continue;
            var prompt = r.Messages.Take(r.Messages.Count - 1).Select(m => new ChatMessage(m.Role, m.Content)).ToList();
            yield return (r.Line, prompt, r.Messages[^1].Content);
        }
    }

    public static async Task<IReadOnlyList<TaskOutput>> GenerateAsync(ICausalLm model, TextTokenizer tokenizer, ChatTemplate template,
        IEnumerable<DataRecord> records, int maxNewTokens, int batchSize, int? limit, CancellationToken ct = default,
        IProgress<EvalProgress>? progress = null)
    {
        var examples = Examples(records).Take(limit ?? int.MaxValue).ToList();
        var stops = model.Config.EosTokenIds.Concat(tokenizer.StopIds).Distinct().ToArray();
        var options = new GenerationOptions { MaxNewTokens = maxNewTokens, StopTokenIds = stops };
        var generator = new Generator(model);
        var outputs = new List<TaskOutput>();
        foreach (var batch in examples.Chunk(Math.Max(1, batchSize)))
        {
            var prompts = batch.Select(e => ChatPrompt.Encode(tokenizer, template, e.Prompt)).ToList();
            var results = await generator.GenerateAsync(prompts, options, ids => tokenizer.Decode(ids), ct);
            for (int i = 0; i < batch.Length; i++)
                outputs.Add(new TaskOutput(batch[i].Line, batch[i].Prompt, batch[i].Reference, (results[i].Text ?? "").Trim()));
            progress?.Report(new EvalProgress(outputs.Count, examples.Count));
        }
        return outputs;
    }

    public static SuiteResult Rouge(IReadOnlyList<TaskOutput> outputs, bool stem = false)
    {
        var scores = outputs.Select(o => Scoring.Rouge.Score(o.Reference, o.Prediction, stem)).ToList();
        return new SuiteResult("rouge", RougeFormatVersion,
        [
            Bootstrap.Mean("rouge/rouge1", scores.Select(s => s.Rouge1.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rouge2", scores.Select(s => s.Rouge2.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rougeL", scores.Select(s => s.RougeL.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rougeLsum", scores.Select(s => s.RougeLsum.FMeasure).ToList()),
        ], new { outputs });
    }

    /// <summary>The split's examples as scored sequences: the template-formatted chat with its loss mask.</summary>
    public static IEnumerable<ScoredSequence> Sequences(IEnumerable<DataRecord> records, TextTokenizer tokenizer, ChatTemplate template, int? limit)
    {
        var examples = new ExampleTokenizer(tokenizer, template, new TokenizeOptions { MaxLength = null });
        foreach (var r in records.Where(r => r.Kind != RecordKind.Preference).Take(limit ?? int.MaxValue))
        {
            var tokenized = examples.Tokenize(r);
            if (tokenized.Dropped) continue;
            yield return new ScoredSequence(tokenized.Sequences[0].Ids, tokenized.Sequences[0].Mask);
        }
    }
}
