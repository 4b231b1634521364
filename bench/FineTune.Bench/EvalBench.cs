// MMLU questions/s (5-shot, log-likelihood with the prompt shared across the four choices) and GSM8K problems/s
// (5-shot, greedy, 256 new tokens) on a random model of the stories15M shape with the Llama 2 tokenizer.
// Run: dotnet run -c Release --project bench/FineTune.Bench -- --eval [--threads 2]   → bench/results/eval.json
using System.Diagnostics;
using System.Text.Json;
using FineTune.Evals;
using FineTune.Evals.Scoring;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using FineTune.Text;

namespace FineTune.Bench;

static class EvalBench
{
    public static async Task RunAsync(string sharedData, int threads, string outPath)
    {
        // The stories15M shape; the context is raised to 2048 because 5-shot MMLU/GSM8K prompts run to ~1,000 tokens.
        var config = new LlamaConfig
        {
            HiddenSize = 288, IntermediateSize = 768, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 6,
            VocabSize = 32000, MaxPositionEmbeddings = 2048, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        };
        var weights = LlamaWeights.Random(config, 15).ToDictionary(t => t.Name);
        using var model = CpuLlama.Load(config, n => weights[n], threads);
        var tokenizer = TokenizerLoader.Load(Path.Combine(sharedData, "models", "llama2-tokenizer", "tokenizer.model"));

        string[] subjects = ["abstract_algebra", "anatomy", "astronomy", "college_biology"];
        var mmluOptions = new MmluOptions { Shots = 5, LimitPerSubject = 10, Subjects = subjects, BatchSize = 8 };
        // warm-up
        Mmlu.Evaluate(model, tokenizer, Path.Combine(sharedData, "mmlu"), mmluOptions with { LimitPerSubject = 1 });
        var clock = Stopwatch.StartNew();
        var mmlu = Mmlu.Evaluate(model, tokenizer, Path.Combine(sharedData, "mmlu"), mmluOptions);
        double mmluSeconds = clock.Elapsed.TotalSeconds;
        long questions = mmlu.Metrics.Single(m => m.Name == "mmlu/acc").Count;

        var train = Gsm8k.Load(Path.Combine(sharedData, "gsm8k", "train.jsonl"));
        var test = Gsm8k.Load(Path.Combine(sharedData, "gsm8k", "test.jsonl"));
        var gsmOptions = new Gsm8kOptions { Shots = 5, Limit = 8, BatchSize = 8, MaxNewTokens = 256 };
        clock.Restart();
        var gsm = await Gsm8k.EvaluateAsync(model, tokenizer, train, test,
            c => Gsm8kAnswers.Extract(c, Gsm8kFormat.Gsm8k), gsmOptions);
        double gsmSeconds = clock.Elapsed.TotalSeconds;
        long problems = gsm.Metrics.First().Count;

        Console.WriteLine($"MMLU 5-shot: {questions} questions in {mmluSeconds:F1} s = {questions / mmluSeconds:F2} " +
            $"questions/s");
        Console.WriteLine($"GSM8K 5-shot: {problems} problems (256 new tokens each, batch 8) in {gsmSeconds:F1} s = " +
            $"{problems / gsmSeconds:F3} problems/s");
        var report = new
        {
            benchmark =
                "MMLU (5-shot, 4 subjects x 10 questions, batch 8) and GSM8K (5-shot, 8 problems, greedy 256 new " +
                "tokens, batch 8) on a random stories15M-shape model (context 2048), Llama 2 tokenizer, cpu engine",
            threads,
            mmlu = new
            {
                questions, seconds = Math.Round(mmluSeconds, 2),
                questionsPerSecond = Math.Round(questions / mmluSeconds, 2)
            },
            gsm8k = new
            {
                problems, seconds = Math.Round(gsmSeconds, 2),
                problemsPerSecond = Math.Round(problems / gsmSeconds, 3)
            },
        };
        File.WriteAllText(outPath,
            JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {outPath}");
    }
}
