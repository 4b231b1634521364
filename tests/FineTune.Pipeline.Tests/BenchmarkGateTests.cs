// The forgetting guard inside the pipeline: MMLU and GSM8K subsets from evaluation sets in the store, scored by the
// Evaluation stage for baseline and candidate with the code `finetune eval` runs; the second run reads its baseline's
// benchmark results from the cache; a candidate that lost what the base model knew is refused by an MMLU rule; the
// judge runs pairwise against the baseline, and an unreachable judge fails the stage with that reason.
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Contracts;
using FineTune.Evals;
using FineTune.Evals.Gate;
using FineTune.Evals.Tests.Judging;
using FineTune.Pipeline.EvalSets;
using FineTune.Registry;
using FineTune.Text;
using FineTune.Torch;

namespace FineTune.Pipeline.Tests;

public sealed class BenchmarkGateTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    static PipelineSettings WithBenchmarks(PipelineSettings settings, params GateRule[] extraRules) => settings with
    {
        Evaluation = settings.Evaluation with
        {
            Suites = ["task", "mmlu", "gsm8k"],
            Mmlu = new MmluSetSettings { Set = "mmlu", Shots = 0, Sample = 8, Seed = 3 },
            Gsm8k = new Gsm8kSetSettings { Set = "gsm8k", Shots = 0, Limit = 2, MaxNewTokens = 12 },
        },
        Gate = [new("task/json_valid", GateRuleKind.Improve, 0.0), .. extraRules],
    };

    static async Task<RunRecord> RunAsync(LocalPipeline pipeline, string data, string project, string baseModel,
        PipelineSettings settings, CancellationToken ct) =>
        await pipeline.WaitAsync(await pipeline.SubmitAsync(data, project, baseModel, settings, ct), null, Poll, ct);

    static Dictionary<string, double> Metrics(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, double>>(json)!;

    [SkippableFact]
    public async Task Mmlu_and_gsm8k_run_in_the_evaluation_stage_and_the_next_run_reads_the_baseline_from_the_cache()
    {
        var mmlu = SharedData.File("mmlu");
        var gsm8k = SharedData.File("gsm8k");
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        await pipeline.Store.EnsureBucketsAsync(Buckets.All);
        var sets = new EvalSetStore(pipeline.Store);
        await sets.AddAsync("mmlu", mmlu, EvalSetKind.Mmlu, timeout.Token);
        await sets.AddAsync("gsm8k", gsm8k, EvalSetKind.Gsm8k, timeout.Token);
        var settings = WithBenchmarks(PipelineFixture.FastSettings(epochs: 1),
            new GateRule("mmlu/acc", GateRuleKind.NoRegression, 1.0));

        var first = await RunAsync(pipeline, await PipelineFixture.TicketsAsync(tmp.Path, 80, 21), "guard", baseModel,
            settings, timeout.Token);
        Assert.True(first.Status == RunStatus.Succeeded, first.Error);
        var evaluation = await pipeline.Registry.ReadAsync(s => s.GetEvaluationAsync("guard", 1));
        foreach (var metrics in new[] { evaluation!.CandidateMetricsJson, evaluation.BaselineMetricsJson })
        {
            var m = Metrics(metrics);
            Assert.InRange(m["mmlu/acc"], 0, 1);
            Assert.True(m.ContainsKey("gsm8k/exact_match,strict-match"), string.Join(", ", m.Keys));
            Assert.True(m.ContainsKey("task/json_valid"));
        }
        Assert.Contains(evaluation.Reasons, r => r.StartsWith("mmlu/acc: pass", StringComparison.Ordinal));
        Assert.DoesNotContain(evaluation.Reasons, r => r.Contains("(cache)", StringComparison.Ordinal));
        // The results record what was scored: the set's hash and the sample, beside the prompt format.
        var results = await pipeline.Store.ListAsync(Buckets.Evaluations, "guard/").Where(o =>
            o.Key.EndsWith("/candidate_results.json", StringComparison.Ordinal)).SingleAsync();
        var path = Path.Combine(tmp.Path, "candidate_results.json");
        await pipeline.Store.GetFileAsync(new ArtifactRef(results.Bucket, results.Key, results.Sha256!, results.Bytes),
            path);
        var mmluResult = EvalReport.Load(path).Suites.Single(s => s.Suite == "mmlu");
        var mmluSet = (await sets.ListAsync("mmlu")).Single();
        Assert.Equal(("mmlu-harness-v1", $"set={mmluSet.Sha256};shots=0;sample=8;seed=3;batch=6"),
            (mmluResult.FormatVersion, mmluResult.Inputs));
        var events = await pipeline.Registry.ReadAsync(s => s.ListEventsAsync(first.RunId));
        Assert.Contains(events, e => e.Type == "progress" && e.Message == "evaluation: baseline mmlu 8/8");
        Assert.Contains(events, e => e.Type == "progress" && e.Message == "evaluation: candidate gsm8k 2/2");
        // While training, each evaluation's answers to the same validation prompts.
        var samples = events.Where(e => e.Type == "sample").ToList();
        Assert.NotEmpty(samples);
        Assert.All(samples, e => Assert.Matches(@"^step \d+ sample \d+: ", e.Message));
        Assert.Contains("\"reference\":", samples[0].DataJson);

        // New data: the test split changes, so task is evaluated again; MMLU and GSM8K of the baseline (the base
        // model, or version 1 if it was promoted) come from the cache.
        var second = await RunAsync(pipeline, await PipelineFixture.TicketsAsync(tmp.Path, 40, 22), "guard",
            baseModel, settings, timeout.Token);
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        var again = await pipeline.Registry.ReadAsync(s => s.GetEvaluationAsync("guard", 2));
        var cacheLine = Assert.Single(again!.Reasons, r => r.EndsWith("(cache)", StringComparison.Ordinal));
        Assert.Contains("mmlu, gsm8k from an earlier evaluation", cacheLine);
        var secondEvents = await pipeline.Registry.ReadAsync(s => s.ListEventsAsync(second.RunId));
        Assert.DoesNotContain(secondEvents, e => e.Message.StartsWith("evaluation: baseline mmlu",
            StringComparison.Ordinal));
        Assert.Contains(secondEvents, e => e.Message.StartsWith("evaluation: baseline task",
            StringComparison.Ordinal) || e.Message.StartsWith("evaluation: baseline rouge", StringComparison.Ordinal));
    }

    /// <summary>An MMLU-layout set whose answers are the base model's own choices on a sample of real questions:
    /// what the base model "knows", so the base scores 1.0 and a model that forgot it scores less. Returns the letter
    /// the base chose least often.</summary>
    static async Task<char> WhatTheBaseKnowsAsync(string baseModel, string dir)
    {
        var mmlu = SharedData.File("mmlu");
        var tokenizer = TokenizerLoader.Load(baseModel);
        using var lm = Engines.Open(baseModel, EngineKind.Auto, 2);
        string[] subjects = ["high_school_geography", "marketing", "nutrition", "sociology"];
        var result = Mmlu.Evaluate(lm, tokenizer, mmlu, new MmluOptions
        {
            Shots = 0, Subjects = subjects, LimitPerSubject = 12, BatchSize = 16
        });
        var items = ((MmluDetails)result.Details!).Items;
        var test = Mmlu.Load(mmlu, "test");
        foreach (var split in new[] { "dev", "test" })
            Directory.CreateDirectory(Path.Combine(dir, split));
        foreach (var subject in subjects)
        {
            File.Copy(Path.Combine(mmlu, "dev", $"{subject}_dev.csv"), Path.Combine(dir, "dev", $"{subject}_dev.csv"));
            await File.WriteAllLinesAsync(Path.Combine(dir, "test", $"{subject}_test.csv"),
                items.Where(i => i.Subject == subject).Select(i =>
                {
                    var q = test[subject][i.Index];
                    return string.Join(",", ((string[])[q.Question, .. q.Choices]).Select(Quote)) + "," +
                        MmluPrompts.Letters[i.Predicted];
                }));
        }
        return MmluPrompts.Letters.MinBy(letter => items.Count(i => MmluPrompts.Letters[i.Predicted] == letter));
        static string Quote(string field) => "\"" + field.Replace("\"", "\"\"") + "\"";
    }

    [SkippableFact]
    public async Task A_candidate_that_forgot_what_the_base_model_knew_is_refused_by_the_mmlu_rule()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var known = Path.Combine(tmp.Path, "known");
        var rare = await WhatTheBaseKnowsAsync(baseModel, known);
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await pipeline.Store.EnsureBucketsAsync(Buckets.All);
        await new EvalSetStore(pipeline.Store).AddAsync("known", known, EvalSetKind.Mmlu, timeout.Token);
        // A full fine-tune that teaches one answer to every multiple-choice question (MMLU's validation questions, the
        // letter the base model chose least; short ones, so that no example loses its answer to the 256-token limit): a
        // narrow dataset that overwrites what the base model did.
        var val = Mmlu.Load(SharedData.File("mmlu"), "val");
        var data = Path.Combine(tmp.Path, "one-letter.jsonl");
        await File.WriteAllLinesAsync(data, val.Values.SelectMany(v => v)
            .Where(q => MmluPrompts.DocToText(q).Length < 160).Take(160).Select(q => JsonSerializer.Serialize(
            new { text = MmluPrompts.DocToText(q) + " " + rare })));
        var settings = PipelineFixture.FastSettings(epochs: 6);
        settings.Training["method"] = "full";
        settings.Training["optimizer"]!["lr"] = 0.01;
        settings = settings with
        {
            Evaluation = settings.Evaluation with
            {
                Suites = ["perplexity", "mmlu"],
                Mmlu = new MmluSetSettings { Set = "known", Shots = 0, Sample = 48 },
            },
            Gate =
            [
                new("perplexity/token_accuracy", GateRuleKind.Improve, 0.0),
                new("mmlu/acc", GateRuleKind.NoRegression, 0.05),
            ],
        };

        var run = await RunAsync(pipeline, data, "forgot", baseModel, settings, timeout.Token);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var evaluation = await pipeline.Registry.ReadAsync(s => s.GetEvaluationAsync("forgot", 1));
        Assert.Equal(1.0, Metrics(evaluation!.BaselineMetricsJson)["mmlu/acc"]);
        var candidate = Metrics(evaluation.CandidateMetricsJson)["mmlu/acc"];
        Assert.True(candidate < 0.9,
            $"the candidate still scored {candidate} on what the base knew (taught '{rare}'): " +
            string.Join(" | ", evaluation.Reasons));
        Assert.False(evaluation.Promote);
        Assert.Contains(evaluation.Reasons, r => r.StartsWith("mmlu/acc: fail", StringComparison.Ordinal));
        Assert.Null(await pipeline.Registry.ReadAsync(s => s.GetAliasAsync("forgot", "production")));
    }

    [Fact]
    public async Task The_judge_compares_with_the_baseline_in_both_orders_and_an_unreachable_judge_fails_the_stage()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        // The judge prefers whichever answer is longer, wherever it stands: a consistent preference in both orders.
        await using var server = await FakeJudgeServer.StartAsync((r, _) =>
        {
            var (first, second) = FakeJudgeServer.Responses(r.LastUser);
            return Task.FromResult(FakeJudgeServer.Reply(first.Length == second.Length ? "{\"winner\": \"tie\"}"
                : $"{{\"winner\": \"{(first.Length > second.Length ? 1 : 2)}\"}}"));
        });
        var rubric = Path.Combine(tmp.Path, "rubric.md");
        await File.WriteAllTextAsync(rubric, "Prefer the answer that names the right category.");
        var host = PipelineFixture.FastHost();
        host["Judge:Endpoint"] = server.BaseUrl;
        host["Judge:Model"] = "judge-test";
        host["Judge:ApiKey"] = "sk-never-shown";
        host["Judge:MaxRetries"] = "0";
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var settings = PipelineFixture.FastSettings(epochs: 1) with
        {
            Evaluation = PipelineFixture.FastSettings().Evaluation with
            {
                Suites = ["task", "judge"],
                Limit = 4,
                Judge = new JudgeSettings { Rubric = "support-rubric" },
            },
            Gate = [new("task/json_valid", GateRuleKind.Improve, 0.0), new("judge/win_rate", GateRuleKind.AtLeast,
                0.0)],
        };
        // A pipeline on this host configuration with the rubric added, and one judged run on it.
        async Task<(LocalPipeline Pipeline, RunRecord Run)> JudgedRunAsync(string home,
            Dictionary<string, string?> hostSettings)
        {
            var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, home), hostSettings);
            await pipeline.Store.EnsureBucketsAsync(Buckets.All);
            await new EvalSetStore(pipeline.Store).AddAsync("support-rubric", rubric, EvalSetKind.Rubric);
            var run = await RunAsync(pipeline, await PipelineFixture.TicketsAsync(tmp.Path, 60, 24), "judged",
                baseModel, settings, timeout.Token);
            return (pipeline, run);
        }

        var (first, judged) = await JudgedRunAsync("home", host);
        await using (first)
        {
            Assert.True(judged.Status == RunStatus.Succeeded, judged.Error);
            var evaluation = await first.Registry.ReadAsync(s => s.GetEvaluationAsync("judged", 1));
            var candidate = Metrics(evaluation!.CandidateMetricsJson);
            Assert.Equal(1.0, candidate["judge/win_rate"] + candidate["judge/tie_rate"] + candidate["judge/loss_rate"],
                9);
            Assert.False(Metrics(evaluation.BaselineMetricsJson).ContainsKey("judge/win_rate"));
            // every pair asked in both orders
            Assert.True(server.Requests >= 2 && server.Requests % 2 == 0, $"{server.Requests} requests");
        }

        using (var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            closed.Start();
            host["Judge:Endpoint"] = $"http://127.0.0.1:{((System.Net.IPEndPoint)closed.LocalEndpoint).Port}/v1";
        }   // nothing listens there any more: every request is refused
        host["Judge:Timeout"] = "00:00:05";
        var (unreachable, run) = await JudgedRunAsync("home2", host);
        await using (unreachable)
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.StartsWith("evaluation: ", run.Error);
            Assert.Contains(host["Judge:Endpoint"]!, run.Error);
            Assert.DoesNotContain("sk-never-shown", run.Error);
            Assert.Null(await unreachable.Registry.ReadAsync(s => s.GetEvaluationAsync("judged", 1)));
            // Each retry took the answers the first attempt had generated from the item log instead of generating
            // them again.
            var events = await unreachable.Registry.ReadAsync(s => s.ListEventsAsync(run.RunId));
            Assert.Single(events, e => e.Message.StartsWith("evaluation failed: ", StringComparison.Ordinal));
            Assert.Contains(events, e => e.Message.StartsWith("evaluation: candidate task: ", StringComparison.Ordinal)
                && e.Message.EndsWith("items scored by an earlier attempt were reused", StringComparison.Ordinal));
        }

        // A host with no judge configured fails such a run at once, saying where the judge is set.
        var (noJudge, refused) = await JudgedRunAsync("home3", PipelineFixture.FastHost());
        await using (noJudge)
        {
            Assert.Equal(RunStatus.Failed, refused.Status);
            Assert.Contains("evaluation.suites names judge, but this host has no judge: set Judge:Model",
                refused.Error);
            var stages = await noJudge.Registry.ReadAsync(s => s.ListStagesAsync(refused.RunId));
            Assert.Equal(1, stages.Single(s => s.Stage == Stages.Evaluation).Attempts);
        }
    }
}
