// Sample answers while training, on real prepared data and a model with a tokenizer: at every evaluation the same
// validation prompts are answered, the answers are what the model of that step says greedily (checked against the
// serving engine on the delivered adapter), they reach metrics.jsonl and the report, and no tensor of theirs is left to
// the garbage collector. In the pipeline they become the run's "sample" events.
using System.Text.Json.Nodes;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training;
using TorchSharp;

namespace FineTune.Pipeline.Tests;

public sealed class TrainingSampleTests
{
    [Fact]
    public async Task Every_evaluation_answers_the_same_validation_prompts_with_the_models_greedy_answer()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var prepared = Path.Combine(tmp.Path, "prepared");
        await DatasetPreparer.PrepareAsync(await PipelineFixture.TicketsAsync(tmp.Path, 80, 51), prepared,
            new PrepareOptions());
        var shards = Path.Combine(tmp.Path, "shards");
        await DatasetTokenizer.TokenizeAsync(prepared, baseModel, shards, new TokenizeOptions
        {
            MaxLength = 256, Template = ChatTemplateKind.ChatMl
        });
        var config = PipelineSettings.Parse("{}", "test").TrainingConfig() with
        {
            BaseModel = baseModel,
            Data = new DataConfig { Path = shards },
            OutputDir = Path.Combine(tmp.Path, "out"),
            Training = new LoopConfig { Epochs = 1, MaxSteps = 6, MicroBatchSize = 8, Threads = 2, Seed = 3 },
            Eval = new EvalConfig { EverySteps = 3, SamplePrompts = 2, SampleMaxNewTokens = 24 },
            Checkpoint = new CheckpointConfig { EverySteps = 0 },
        };
        Directory.CreateDirectory(config.OutputDir);

        TrainingReport report;
        using (var trainer = Trainer.Create(config))
        {
            DisposeScopeManager.Statistics.Reset();
            report = trainer.Train();
            Assert.True(DisposeScopeManager.Statistics.CreatedOutsideScopeCount == 0,
                DisposeScopeManager.Statistics.ToString());
        }

        Assert.Equal([0, 3, 6], report.Evals.Select(e => e.Step));
        Assert.All(report.Evals, e => Assert.Equal(2, e.Samples!.Count));
        var first = report.Evals[0].Samples!;
        Assert.All(report.Evals, e => Assert.Equal(first.Select(s => (s.Example, s.Prompt, s.Reference)),
            e.Samples!.Select(s => (s.Example, s.Prompt, s.Reference))));
        Assert.All(first, s => Assert.Contains("\"category\"", s.Reference));
        Assert.All(first, s => Assert.Contains("<|im_start|>assistant", s.Prompt));

        // The first evaluation's answers are the base model's greedy answers, as the serving engine gives them for
        // the same prompt tokens (an example's tokens before its first trained one).
        var tokenizer = TokenizerLoader.Load(baseModel);
        using var split = TokenizedSplit.Open(shards, TokenizedManifest.Read(shards), "validation")!;
        var prompts = first.Select(s =>
        {
            var sequence = split.Read(s.Example).Sequences[0];
            return sequence.Ids[..Array.IndexOf(sequence.Mask, (byte)1)];
        }).ToList();
        using var lm = Engines.Open(baseModel, EngineKind.Torch, 2);
        var stops = lm.Config.EosTokenIds.Concat(tokenizer.StopIds).Distinct().ToArray();
        var generated = await new FineTune.Models.Generation.Generator(lm).GenerateAsync(prompts,
            new FineTune.Models.Generation.GenerationOptions { MaxNewTokens = 24, StopTokenIds = stops },
            ids => tokenizer.Decode(ids));
        Assert.Equal(first.Select(s => s.Answer), generated.Select(g => (g.Text ?? "").Trim()));
        Assert.Equal(prompts.Select(p => tokenizer.Decode(p, skipSpecialTokens: false)), first.Select(s => s.Prompt));

        var evalLines = File.ReadAllLines(Path.Combine(config.OutputDir, "metrics.jsonl"))
            .Select(l => JsonNode.Parse(l)!).Where(n => n["type"]!.GetValue<string>() == "eval").ToList();
        Assert.Equal(3, evalLines.Count);
        Assert.All(evalLines, l => Assert.Equal(2, l["metrics"]!["samples"]!.AsArray().Count));
        var reportJson = JsonNode.Parse(File.ReadAllText(Path.Combine(config.OutputDir, TrainingReport.FileName)))!;
        var last = report.Evals[^1];
        Assert.Equal(last.Samples![1].Answer, reportJson["evals"]!.AsArray()[^1]!["samples"]![1]!["answer"]!
            .GetValue<string>());
    }
}
