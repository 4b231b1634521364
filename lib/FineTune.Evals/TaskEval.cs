// The task metrics of a fine-tune, on the held-out test split of its own data (prepared chat records): the model
// answers each prompt (greedy), and ROUGE, the task metrics or the judge score the answers against the references;
// perplexity scores the references' tokens directly.
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals.Scoring;
using FineTune.Models.Generation;
using FineTune.Text;

namespace FineTune.Evals;

/// <summary>One test example: the conversation up to the last assistant turn, that turn's text, and the model's answer;
/// Truncated when the prompt lost tokens from its left to leave room for the answer.</summary>
public sealed record TaskOutput(long Line, IReadOnlyList<ChatMessage> Prompt, string Reference, string Prediction,
    bool Truncated = false);

public static class TaskEval
{
    public const string RougeFormatVersion = "rouge-task-v1";
    public const string BleuFormatVersion = "bleu-sacrebleu-" + Scoring.SacreBleuText.Version;
    public const string ChrfFormatVersion = "chrf-sacrebleu-" + Scoring.SacreBleuText.Version;

    /// <summary>Chat records of a prepared split that end with an assistant turn (the reference).</summary>
    public static IEnumerable<(long Line, IReadOnlyList<ChatMessage> Prompt,
        string Reference)> Examples(IEnumerable<DataRecord> records)
    {
        foreach (var r in records)
        {
            if (r.Kind != RecordKind.Chat || r.Messages.Count < 2 || r.Messages[^1].Role != "assistant")
                continue;
            var prompt = r.Messages.Take(r.Messages.Count - 1).Select(m => new ChatMessage(m.Role, m.Content)).ToList();
            yield return (r.Line, prompt, r.Messages[^1].Content);
        }
    }

    /// <summary>The model's greedy answer to each example's prompt; a prompt keeps its rightmost context -
    /// max_new_tokens tokens (PromptFit). <paramref name="items"/> holds answers from an interrupted run, which are not
    /// generated again.</summary>
    public static async Task<IReadOnlyList<TaskOutput>> GenerateAsync(ICausalLm model, TextTokenizer tokenizer,
        ChatTemplate template,
        IEnumerable<DataRecord> records, int maxNewTokens, int batchSize, int? limit, CancellationToken ct = default,
        IProgress<EvalProgress>? progress = null, SuiteItems? items = null)
    {
        var examples = Examples(records).Take(limit ?? int.MaxValue).ToList();
        var stops = model.Config.EosTokenIds.Concat(tokenizer.StopIds).Distinct().ToArray();
        var (room, maxNew) = PromptFit.Budget(model.Config.MaxPositionEmbeddings, maxNewTokens);
        var options = new GenerationOptions { MaxNewTokens = maxNew, StopTokenIds = stops };
        var generator = new Generator(model);
        var done = new Dictionary<long, TaskOutput>();
        foreach (var e in examples)
            if (items is not null && items.TryGet<TaskOutput>(ItemKey(e.Line), out var stored))
                done[e.Line] = stored;
        progress?.Report(new EvalProgress(done.Count, examples.Count));
        foreach (var batch in examples.Where(e => !done.ContainsKey(e.Line)).Chunk(Math.Max(1, batchSize)))
        {
            ct.ThrowIfCancellationRequested();
            var prompts = batch.Select(e => PromptFit.Left(ChatPrompt.Encode(tokenizer, template, e.Prompt),
                room)).ToList();
            var results = await generator.GenerateAsync(prompts.Select(p => p.Ids).ToList(), options,
                ids => tokenizer.Decode(ids), ct);
            for (int i = 0; i < batch.Length; i++)
            {
                var output = new TaskOutput(batch[i].Line, batch[i].Prompt, batch[i].Reference,
                    (results[i].Text ?? "").Trim(), prompts[i].Truncated);
                done[output.Line] = output;
                items?.Add(ItemKey(output.Line), output);
            }
            progress?.Report(new EvalProgress(done.Count, examples.Count));
        }
        return examples.Select(e => done[e.Line]).ToList();
    }

    static string ItemKey(long line) => line.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static SuiteResult Rouge(IReadOnlyList<TaskOutput> outputs, bool stem = false)
    {
        var scores = outputs.Select(o => Scoring.Rouge.Score(o.Reference, o.Prediction, stem)).ToList();
        return new SuiteResult("rouge", RougeFormatVersion,
        [
            Bootstrap.Mean("rouge/rouge1", scores.Select(s => s.Rouge1.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rouge2", scores.Select(s => s.Rouge2.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rougeL", scores.Select(s => s.RougeL.FMeasure).ToList()),
            Bootstrap.Mean("rouge/rougeLsum", scores.Select(s => s.RougeLsum.FMeasure).ToList()),
        ], new { outputs })
        { Items = outputs.Count, Truncated = outputs.Count(o => o.Truncated) };
    }

    /// <summary>Corpus BLEU of the answers (sacrebleu's corpus_bleu), with a bootstrap interval over examples and
    /// sacrebleu's signature and score line in the details.</summary>
    public static SuiteResult Bleu(IReadOnlyList<TaskOutput> outputs)
    {
        var stats = outputs.Select(o => Scoring.Bleu.Statistics(o.Prediction, [o.Reference])).ToArray();
        BleuScore Corpus(IReadOnlyList<int> indices) => Scoring.Bleu.Corpus(stats, indices);
        var signature = Scoring.Bleu.Signature(outputs.Select(_ => (IReadOnlyList<string>)[""]), false);
        var line = Corpus(Enumerable.Range(0, stats.Length).ToArray()).Format(signature);
        return new SuiteResult("bleu", BleuFormatVersion,
            [Bootstrap.Statistic("bleu/score", stats.Length, indices => Corpus(indices).Score)],
            new { signature, score_line = line, outputs })
        { Items = outputs.Count, Truncated = outputs.Count(o => o.Truncated) };
    }

    /// <summary>Corpus chrF2 of the answers (sacrebleu's corpus_chrf), with a bootstrap interval over
    /// examples.</summary>
    public static SuiteResult Chrf(IReadOnlyList<TaskOutput> outputs)
    {
        var stats = outputs.Select(o => Scoring.Chrf.Statistics(o.Prediction, [o.Reference])).ToArray();
        var metric = Bootstrap.Statistic("chrf/score", stats.Length, indices => Scoring.Chrf.Corpus(stats, indices));
        var signature = Scoring.Chrf.Signature(outputs.Select(_ => (IReadOnlyList<string>)[""]));
        return new SuiteResult("chrf", ChrfFormatVersion, [metric],
            new { signature, score_line = new ChrfScore(metric.Value, []).Format(signature), outputs })
        { Items = outputs.Count, Truncated = outputs.Count(o => o.Truncated) };
    }

    /// <summary>The task suite (Scoring/TaskMetrics.cs): exact match, and for JSON answers validity, schema validity
    /// and
    /// per-field accuracy, macro-F1 and ROUGE-L; <paramref name="schema"/> null: inferred from the
    /// references.</summary>
    public static SuiteResult Task(IReadOnlyList<TaskOutput> outputs, TaskSchema? schema = null)
    {
        var (metrics, details) = TaskMetrics.Score(outputs.Select(o => (o.Reference, o.Prediction)).ToList(), schema);
        details["outputs"] = System.Text.Json.JsonSerializer.SerializeToNode(outputs, DetailsJson);
        return new SuiteResult("task", TaskMetrics.FormatVersion, metrics, details)
        {
            Items = outputs.Count,
            Truncated = outputs.Count(o => o.Truncated)
        };
    }

    static readonly System.Text.Json.JsonSerializerOptions DetailsJson = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower
    };

    /// <summary>The split's examples as scored sequences: the template-formatted chat with its loss mask.</summary>
    public static IEnumerable<ScoredSequence> Sequences(IEnumerable<DataRecord> records, TextTokenizer tokenizer,
        ChatTemplate template, int? limit)
    {
        var examples = new ExampleTokenizer(tokenizer, template, new TokenizeOptions { MaxLength = null });
        foreach (var r in records.Where(r => r.Kind != RecordKind.Preference).Take(limit ?? int.MaxValue))
        {
            var tokenized = examples.Tokenize(r);
            if (tokenized.Dropped)
                continue;
            yield return new ScoredSequence(tokenized.Sequences[0].Ids, tokenized.Sequences[0].Mask);
        }
    }
}
