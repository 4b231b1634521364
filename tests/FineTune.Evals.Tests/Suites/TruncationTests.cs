// Inputs longer than the model's context, as lm-evaluation-harness handles them: a generation prompt keeps its
// rightmost (context - max_new_tokens) tokens, a log-likelihood request keeps (context + continuation)[-(L+1):][:-1],
// and every suite counts the items it had to truncate. Checked on real GSM8K and MMLU items with the stories260K
// tokenizer, against models of 64 positions.
using FineTune.Evals;
using FineTune.Evals.Scoring;
using FineTune.Text;

namespace FineTune.Evals.Tests.Suites;

public class TruncationTests
{
    static TextTokenizer Tokenizer() => TokenizerLoader.Load(SharedData.File("models/stories260K/tok512.bin"));

    [Theory]
    [InlineData(64, 16, 48, 16)]     // the harness: context - max_gen_toks for the prompt
    [InlineData(256, 96, 160, 96)]
    [InlineData(64, 256, 32, 32)]    // a budget that would leave no prompt is capped at half the context
    [InlineData(256, 128, 128, 128)]
    public void Generation_budget_leaves_the_prompt_its_share_of_the_context(int context, int maxNew, int room,
        int generate) =>
        Assert.Equal((room, generate), PromptFit.Budget(context, maxNew));

    [SkippableFact]
    public async Task A_gsm8k_prompt_keeps_its_rightmost_context_minus_max_new_tokens_as_the_harness_does()
    {
        var tokenizer = Tokenizer();
        var train = Gsm8k.Load(SharedData.File("gsm8k/train.jsonl"));
        var test = Gsm8k.Load(SharedData.File("gsm8k/test.jsonl")).Take(3).ToList();
        var model = new RecordingModel(tokenizer.VocabSize, context: 64, favoured: tokenizer.EosId!.Value);
        var options = new Gsm8kOptions { Shots = 1, MaxNewTokens = 16, BatchSize = 3 };

        var result = await Gsm8k.EvaluateAsync(model, tokenizer, train, test,
            c => Gsm8kAnswers.Extract(c, Gsm8kFormat.Gsm8k), options);

        // Janet's ducks, 1-shot: far longer than 64 tokens, so the model saw exactly the prompt's last 64 - 16 tokens.
        var whole = tokenizer.Encode(Gsm8k.Prompt(test[0], train, options), addBos: false);
        Assert.True(whole.Count > 48);
        Assert.Equal(whole.Skip(whole.Count - 48), model.Prefilled[0]);
        var seen = tokenizer.Decode(model.Prefilled[0]);
        Assert.EndsWith("How much in dollars does she make every day at the farmers' market?\nAnswer:", seen);
        Assert.DoesNotContain("Natalia", seen);   // the shot fell off the left
        Assert.Equal(3, result.Items);
        Assert.Equal(3, result.Truncated);
        Assert.True(result.MostlyTruncated);
    }

    [SkippableFact]
    public void An_mmlu_request_is_cut_from_the_left_with_its_continuation_whole()
    {
        var tokenizer = Tokenizer();
        var root = Path.GetDirectoryName(SharedData.File("mmlu/dev"))!;
        var dev = Mmlu.Load(root, "dev");
        var test = Mmlu.Load(root, "test");
        var model = new RecordingModel(tokenizer.VocabSize, context: 64, favoured: 0);
        var options = new MmluOptions
        {
            Shots = 5, LimitPerSubject = 1, Subjects = ["abstract_algebra", "anatomy"],
            BatchSize = 8
        };

        var result = Mmlu.Evaluate(model, tokenizer, dev, test, options);

        var item = test["abstract_algebra"][0];
        var pair = HarnessEncoding.Pair(tokenizer, MmluPrompts.Context(item, dev["abstract_algebra"].Take(5).ToList()),
            MmluPrompts.Continuation(0), false);
        // The harness feeds (context + continuation)[-(L + 1):][:-1]: the context's tail, then the continuation but its
        // last token. Ours prefills that tail and steps through the continuation, so the two inputs are the same
        // tokens.
        var harnessInput = pair.Context.Concat(pair.Continuation).TakeLast(65).SkipLast(1).ToArray();
        var tail = harnessInput.Take(64 - (pair.Continuation.Count - 1)).ToArray();
        Assert.Equal(pair.Continuation.SkipLast(1), harnessInput.Skip(tail.Length));
        Assert.Contains(model.Prefilled, row => row.SequenceEqual(tail));
        Assert.Equal(2, result.Items);
        Assert.Equal(2, result.Truncated);   // 5-shot prompts are hundreds of tokens

        var zeroShot = Mmlu.Evaluate(new RecordingModel(tokenizer.VocabSize, context: 4096, favoured: 0), tokenizer,
            dev, test, options);
        Assert.Equal(0, zeroShot.Truncated);   // the same items fit a long context
    }

    [SkippableFact]
    public void An_interrupted_mmlu_run_resumed_from_its_item_log_equals_an_uninterrupted_run()
    {
        var tokenizer = Tokenizer();
        var root = Path.GetDirectoryName(SharedData.File("mmlu/dev"))!;
        var (dev, test) = (Mmlu.Load(root, "dev"), Mmlu.Load(root, "test"));
        using var model = RandomLlama.Create(seed: 5, vocab: tokenizer.VocabSize, context: 512);
        var options = new MmluOptions
        {
            Shots = 1, LimitPerSubject = 4,
            Subjects = ["anatomy", "astronomy", "virology"], BatchSize = 4
        };
        var whole = Mmlu.Evaluate(model, tokenizer, dev, test, options);

        using var dir = new TempDir();
        var logPath = Path.Combine(dir.Path, "results.items.jsonl");
        using (var cts = new CancellationTokenSource())
        using (var log = EvalItemLog.Open(logPath))
        {
            var items = log.Scope("mmlu", Mmlu.FormatVersion, "model", "shots=1");
            var stopAfterFirstBatch = new Progress(p =>
            {
                if (p.Done >= 4)
                    cts.Cancel();
            });
            Assert.ThrowsAny<OperationCanceledException>(() => Mmlu.Evaluate(model, tokenizer, dev, test, options,
                cts.Token, stopAfterFirstBatch, items));
            Assert.Equal(4, items.Count);
        }
        using (var log = EvalItemLog.Open(logPath))
        {
            var items = log.Scope("mmlu", Mmlu.FormatVersion, "model", "shots=1");
            var resumed = Mmlu.Evaluate(model, tokenizer, dev, test, options, default, null, items);
            Assert.Equal(4, items.Reused);
            Assert.Equal(12, items.Count);
            Assert.Equal(whole.Metrics, resumed.Metrics);
            var (a, b) = ((MmluDetails)whole.Details!, (MmluDetails)resumed.Details!);
            Assert.Equal(a.Items.Select(i => (i.Subject, i.Index, i.Predicted)),
                b.Items.Select(i => (i.Subject, i.Index, i.Predicted)));
            Assert.Equal(a.Items.SelectMany(i => i.LogProbs), b.Items.SelectMany(i => i.LogProbs));

            // Another scope (other settings) shares nothing with this one.
            Assert.Equal(0, log.Scope("mmlu", Mmlu.FormatVersion, "model", "shots=2").Count);
        }
    }

    [Fact]
    public void A_torn_last_line_of_the_item_log_is_ignored()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "items.jsonl");
        using (var log = EvalItemLog.Open(path))
        {
            var items = log.Scope("gsm8k", "v1", "m", "s");
            items.Add("0", new Perplexity.ExampleScore(1.5, 3, 2, false));
            items.Add("1", new Perplexity.ExampleScore(2.5, 4, 1, true));
        }
        File.AppendAllText(path, "{\"Scope\":\"abc\",\"Item\":\"2\",\"Val");   // killed mid-write
        using var again = EvalItemLog.Open(path);
        var scope = again.Scope("gsm8k", "v1", "m", "s");
        Assert.Equal(2, scope.Count);
        Assert.True(scope.TryGet<Perplexity.ExampleScore>("1", out var score));
        Assert.Equal(new Perplexity.ExampleScore(2.5, 4, 1, true), score);
        Assert.False(scope.TryGet<Perplexity.ExampleScore>("2", out _));
    }

    sealed class Progress(Action<EvalProgress> report) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => report(value);
    }
}
