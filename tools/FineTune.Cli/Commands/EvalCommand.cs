// finetune eval MODEL --suite mmlu,gsm8k,rouge,bleu,chrf,judge,perplexity [--limit N] [--shots K] [--out results.json]
// Runs the suites and writes one results file (with each suite's prompt-format version) that `finetune gate` reads.
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals;
using FineTune.Evals.Judging;
using FineTune.Evals.Scoring;
using FineTune.Text;
using FineTune.Torch;

namespace FineTune.Cli.Commands;

static class EvalCommand
{
    static readonly IReadOnlyList<string> Suites = EvalSuites.Names;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model")
        {
            Description = "Hugging Face model directory or llama2.c .bin file"
        };
        var adapter = new Option<string?>("--adapter")
        {
            Description = "PEFT LoRA/DoRA adapter directory, merged into the weights at load"
        };
        var suites = new Option<string>("--suite")
        {
            Description = $"Comma-separated: {string.Join(", ", Suites)}",
            Required = true
        };
        var limit = new Option<int?>("--limit") { Description = "At most N items (per subject for MMLU)" };
        var shots = new Option<int?>("--shots")
        {
            Description = "Few-shot examples (MMLU default 5, gsm8k 5, gsm8k_cot 8)"
        };
        var mmlu = new Option<string?>("--mmlu") { Description = "MMLU data directory (dev/, val/, test/ CSVs)" };
        var gsm8k = new Option<string?>("--gsm8k") { Description = "GSM8K directory (train.jsonl, test.jsonl)" };
        var data = new Option<string?>("--data")
        {
            Description = "Prepared dataset directory: its test.jsonl feeds rouge, bleu, chrf, judge and perplexity"
        };
        var judgeConfig = new Option<string?>("--judge-config")
        {
            Description = "JSON with a \"Judge\" section: Endpoint, Model, ApiKeyVariable, …"
        };
        var baseline = new Option<string?>("--baseline")
        {
            Description =
                "judge: compare pairwise (both orders) against this model's answers instead of grading on the rubric"
        };
        var tokenizerPath = new Option<string?>("--tokenizer")
        {
            Description = "Tokenizer file or directory, when the model directory has none"
        };
        var template = new Option<string?>("--chat-template")
        {
            Description = "Override the chat template: chatml, llama2, llama3, alpaca"
        };
        var batch = new Option<int>("--batch-size")
        {
            Description = "Prompts per forward batch",
            DefaultValueFactory = _ => 8
        };
        var maxNew = new Option<int>("--max-new-tokens")
        {
            Description = "Generation budget for gsm8k, rouge, bleu, chrf and judge (capped at half the model's context)",
            DefaultValueFactory = _ => 256
        };
        var output = new Option<string>("--out")
        {
            Description =
                "Results JSON path (written after each suite; scored items go to <name>.items.jsonl, so the same " +
            "command run again resumes)", DefaultValueFactory = _ => "results.json"
        };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all cores)" };

        var command = new Command("eval",
            "Evaluate a model on benchmark and task suites; write a results file for the gate.")
        {
            model, adapter, suites, limit, shots, mmlu, gsm8k, data, judgeConfig, baseline, tokenizerPath, template,
                batch, maxNew, output, threads,
        };
        command.SetAction(async (parse, ct) =>
        {
            var chosen = parse.GetValue(suites)!.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var s in chosen)
                if (!Suites.Contains(s))
                    throw new ArgumentException($"--suite: '{s}' is not one of {string.Join(", ", Suites)}.");
            // Every suite's data is checked before the model loads: a missing option is the user's, not a suite
            // failure.
            foreach (var s in chosen.Distinct())
                _ = s switch
                {
                    "mmlu" => Required(parse.GetValue(mmlu), "--mmlu", s),
                    "gsm8k" or "gsm8k_cot" => Required(parse.GetValue(gsm8k), "--gsm8k", s),
                    "judge" => Required(parse.GetValue(judgeConfig), "--judge-config",
                        s) + TestFile(parse.GetValue(data), s),
                    _ => TestFile(parse.GetValue(data), s),
                };

            var modelPath = parse.GetValue(model)!;
            var outPath = parse.GetValue(output)!;
            var tokenizer = parse.GetValue(tokenizerPath) is { } tp ? TokenizerLoader.Load(tp)
                : TokenizerLoader.Load(modelPath);
            var chat = parse.GetValue(template) is { } name ? ChatTemplate.For(ChatTemplate.Parse(name))
                : tokenizer.ChatTemplate ?? ChatTemplate.For(ChatTemplateKind.ChatMl);
            using var lm = Engines.Open(modelPath, EngineKind.Auto, parse.GetValue(threads), parse.GetValue(adapter));
            // Scored items go to a log beside the results file: the same command run again skips what it holds.
            using var log = EvalItemLog.Open(ItemsPath(outPath));
            var modelKey = EvalItemLog.Fingerprint(modelPath, parse.GetValue(adapter), parse.GetValue(tokenizerPath));
            string Settings(string suite) =>
                string.Join(';', $"shots={parse.GetValue(shots)}", $"max_new={parse.GetValue(maxNew)}",
                $"template={chat.Kind}",
                    $"data={(suite is "mmlu" or "gsm8k" or "gsm8k_cot" ? "" : EvalItemLog.Fingerprint(TestFile(parse.GetValue(data), suite)))}");
            SuiteItems Items(string suite) =>
                log.Scope(suite, EvalSuites.FormatVersion(suite), modelKey, Settings(suite));

            var judgeInputs = chosen.Contains("judge")
                ? await JudgeInputsAsync(parse.GetValue(judgeConfig)!, parse.GetValue(baseline), tokenizer, chat,
                    parse.GetValue(data), parse.GetValue(threads), parse.GetValue(maxNew), parse.GetValue(batch),
                    parse.GetValue(limit), ct)
                : null;
            var runner = new EvalSuites(lm, tokenizer, chat, new SuiteInputs
            {
                MmluDirectory = parse.GetValue(mmlu),
                Mmlu = new MmluOptions
                {
                    Shots = parse.GetValue(shots) ?? 5,
                    LimitPerSubject = parse.GetValue(limit), BatchSize = parse.GetValue(batch)
                },
                Gsm8kDirectory = parse.GetValue(gsm8k),
                Gsm8kShots = parse.GetValue(shots),
                Gsm8kLimit = parse.GetValue(limit),
                TestSplit = parse.GetValue(data) is { } dataDir ? () => TestSplit(dataDir, "rouge") : null,
                Limit = parse.GetValue(limit),
                MaxNewTokens = parse.GetValue(maxNew),
                BatchSize = parse.GetValue(batch),
                Judge = judgeInputs,
            });
            var results = new List<SuiteResult>();
            void Save() => new EvalReport(Path.GetFullPath(modelPath), DateTimeOffset.UtcNow, results).Write(outPath);
            foreach (var suite in chosen)
            {
                SuiteResult result;
                try
                {
                    result = await SuiteProgress.RunAsync(stderr, suite,
                        progress => runner.RunAsync(suite, Items(suite), progress, ct));
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    Save();
                    await stderr.WriteLineAsync($"interrupted during {suite}: finished suites are in {outPath}, " +
                        $"scored items in {ItemsPath(outPath)}; " +
                                                "run the same command again to continue.");
                    return 130;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One suite's failure (an unreachable judge, a broken data file) does not cost the others their
                    // results.
                    result = SuiteResult.Failed(suite, EvalSuites.FormatVersion(suite), e.Message);
                    await stderr.WriteLineAsync($"error: suite {suite} failed: {e.Message}");
                }
                results.Add(result);
                Save();
                foreach (var m in result.Metrics)
                    await stdout.WriteLineAsync($"{m.Name,-40} {m.Value,10:0.0000}  " +
                        $"(n={m.Count}{(m.Low is { } lo ? $", 95% CI {lo:0.0000}–{m.High:0.0000}" : "")})");
                if (result.Truncated > 0)
                    await stdout.WriteLineAsync($"{suite}: {result.Truncated} of {result.Items} items were longer " +
                        $"than the context of " +
                                                $"{lm.Config.MaxPositionEmbeddings} tokens and lost tokens from the " +
                                                    $"left");
                if (result.MostlyTruncated)
                    await stderr.WriteLineAsync($"warning: most {suite} items did not fit the model's context; its " +
                        $"numbers say little about the model.");
            }
            await stdout.WriteLineAsync($"wrote {outPath}");
            var failed = results.Where(r => r.Error is not null).Select(r => r.Suite).ToList();
            if (failed.Count == 0)
                return 0;
            await stderr.WriteLineAsync($"error: {failed.Count} of {results.Count} suites failed " +
                $"({string.Join(", ", failed)}); " +
                                        $"the others' results are in {outPath}.");
            return 1;
        });
        return command;
    }

    /// <summary>results.json → results.items.jsonl: the scored items that let a rerun resume.</summary>
    internal static string ItemsPath(string outPath) => Path.ChangeExtension(outPath, ".items.jsonl");

    static string TestFile(string? dataDir, string suite)
    {
        var path = Path.Combine(Required(dataDir, "--data", suite), "test.jsonl");
        return File.Exists(path) ? path
            : throw new FileNotFoundException($"suite '{suite}': {path} not found (run finetune data prepare first).",
            path);
    }

    static string Required(string? value, string option, string suite) =>
        value ?? throw new ArgumentException($"suite '{suite}' needs {option} (where its data lives).");

    static IEnumerable<DataRecord> TestSplit(string? dataDir, string suite) =>
        NormalizedJsonl.Read(TestFile(dataDir, suite));

    /// <summary>The judge's settings from the --judge-config file and, with --baseline, the baseline model's answers
    /// to the same test split for a pairwise comparison.</summary>
    static async Task<JudgeInputs> JudgeInputsAsync(string configPath, string? baselinePath, TextTokenizer tokenizer,
        ChatTemplate chat, string? dataDir, int threads, int maxNew, int batch, int? limit, CancellationToken ct)
    {
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"judge config not found: '{configPath}'.", configPath);
        var section = JsonNode.Parse(await File.ReadAllTextAsync(configPath, ct))?["Judge"]
            ?? throw new ArgumentException($"{configPath}: no \"Judge\" section (Endpoint, Model, ApiKeyVariable, …).");
        var options = section.Deserialize<JudgeOptions>(new JsonSerializerOptions
        {
            PropertyNameCaseInsensitive = true
        })
            ?? throw new ArgumentException($"{configPath}: the \"Judge\" section is empty.");
        options.Validate();
        if (baselinePath is null)
            return new JudgeInputs(options);
        return new JudgeInputs(options, BaselineAnswers: async token =>
        {
            using var baselineModel = Engines.Open(baselinePath, EngineKind.Auto, threads);
            return await TaskEval.GenerateAsync(baselineModel, tokenizer, chat, TestSplit(dataDir, "judge"), maxNew,
                batch, limit, token);
        });
    }
}
