// The evaluation stage's work: the baseline (the project's production model, or the base model when it has none; its
// results come from BaselineCache when it was evaluated on the same inputs before), then the candidate, on the same
// suites — the test split's (perplexity, rouge, bleu, chrf, task), the benchmark sets' (mmlu, gsm8k: the forgetting
// guard) and the judge's, with the code `finetune eval` runs — then the regression gate. Scored items go to a log
// kept beside the stage's scratch space, so an attempt killed mid-suite resumes without scoring them again. Uploads
// both results files, gate.json/gate.md and the comparison report to the evaluations bucket.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals;
using FineTune.Evals.Gate;
using FineTune.Evals.Judging;
using FineTune.Evals.Scoring;
using FineTune.Models.Generation;
using FineTune.Pipeline.EvalSets;
using FineTune.Registry;
using FineTune.Text;
using FineTune.Torch;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Evaluation;

public sealed record EvaluationOutcome(EvaluationCompleted Message, GateDecision Decision);

public sealed class EvaluationStage(IArtifactStore store, RunInputs inputs, RunRegistry registry, RunLedger ledger,
    PipelineTelemetry telemetry, IOptions<PipelineOptions> options, IOptions<JudgeOptions> judgeOptions,
    ILogger<EvaluationStage> log)
{
    readonly BaselineCache cache = new(store);
    readonly EvalSetStore sets = new(store);

    /// <summary>A model under evaluation: its files on this host and the artifacts they came from (the item log's
    /// key).</summary>
    sealed record ModelFiles(string Model, string? Adapter, string BaseSha256, string? ModelSha256, string Kind)
    {
        public string Key => $"{BaseSha256}+{ModelSha256}";
    }

    public async Task<EvaluationOutcome> RunAsync(ModelTrained trained, CancellationToken ct)
    {
        var settings = await inputs.SettingsAsync(trained.Settings, ct);
        var work = inputs.StageDirectory(trained.RunId, Stages.Evaluation);
        var prepared = await inputs.BundleAsync(trained.Prepared, ct);
        var recordsPath = Path.Combine(prepared, "test.jsonl");
        var records = NormalizedJsonl.Read(recordsPath).ToList();
        // The task suite's schema: the fields and value kinds every training answer shares (null for free-text tasks).
        var schema = settings.Evaluation.Suites.Contains("task") && File.Exists(Path.Combine(prepared, "train.jsonl"))
            ? TaskSchema.Infer(TaskEval.Examples(NormalizedJsonl.Read(Path.Combine(prepared,
                "train.jsonl"))).Select(e => e.Reference))
            : null;
        if (records.Count == 0)
        {
            recordsPath = Path.Combine(prepared, "validation.jsonl");
            records = NormalizedJsonl.Read(recordsPath).ToList();
        }
        if (records.Count == 0)
            throw new InvalidDatasetException($"run {trained.RunId}: the prepared dataset has no test or validation " +
                $"examples to evaluate on.");

        var production = await registry.ReadAsync(async s =>
            await s.GetAliasAsync(trained.Project, "production", ct) is { } v && v != trained.ModelVersion
                ? await s.GetModelVersionAsync(trained.Project, v, ct) : null, ct);
        var setup = await SuiteSetup.CreateAsync(settings, records, ArtifactKeys.Sha256OfFile(recordsPath), schema,
            sets, inputs, ct);
        // Kept outside the stage's scratch directory (emptied on every attempt) until the run ends.
        using var itemLog = EvalItemLog.Open(Path.Combine(
            inputs.StageDirectory(trained.RunId, "evaluation-items", clean: false), "items.jsonl"));
        bool pairwise = SuiteSetup.Pairwise(settings);
        var suites = settings.Evaluation.Suites;
        // A pairwise judgment belongs to the candidate alone: the baseline is what it is compared with.
        var baselineSuites = suites.Where(s => !(s == "judge" && pairwise)).ToList();

        var candidateFiles = await ModelFilesAsync(trained.BaseModel, trained.Model, trained.Kind, ct);
        // Without production, the model the run was given (not earlier stages merged into it: they are the
        // candidate's own training).
        var runBase = trained.RunBaseModel ?? trained.BaseModel;
        var baselineFiles = production is null
            ? new ModelFiles(await inputs.BundleAsync(runBase, ct), null, runBase.Sha256, null, "base")
            : await ModelFilesAsync(production.BaseModel, production.Model, production.Kind, ct);
        if (suites.Contains("judge") && string.IsNullOrWhiteSpace(judgeOptions.Value.Model))
            throw new InvalidPipelineSettingsException("evaluation.suites names judge, but this host has no judge: " +
                "set Judge:Model and Judge:Endpoint (the services' Judge__Model and Judge__Endpoint, the AppHost's " +
                "--Judge:Model, or finetune run --judge-config FILE).");
        var judge = suites.Contains("judge") ? new JudgeInputs(judgeOptions.Value, setup.Rubric) : null;

        // Each baseline suite's results come from the cache when that model was evaluated on exactly these inputs
        // before; the rest are evaluated now (one model load) and cached.
        string? gradingJudge = judge is null || pairwise ? null : $"{judge.Options.Endpoint} {judge.Options.Model}";
        BaselineCacheKey KeyFor(ModelFiles files, string suite) => new(files.BaseSha256, files.ModelSha256,
            files.Kind, suite, EvalSuites.FormatVersion(suite), setup.Keys.GetValueOrDefault(suite, ""),
            suite == "judge" ? gradingJudge : null);
        var cachedSuites = new Dictionary<string, SuiteResult>(StringComparer.Ordinal);
        foreach (var suite in baselineSuites)
            if (await cache.TryGetAsync(KeyFor(baselineFiles, suite), work, ct) is { } hit)
                cachedSuites[suite] = hit;
        IReadOnlyList<TaskOutput>? baselineAnswers = null;
        var fresh = baselineSuites.Where(s => !cachedSuites.ContainsKey(s)).ToList();
        var evaluated = new List<SuiteResult>();
        if (fresh.Count > 0)
        {
            EvalReport report;
            (report, baselineAnswers) = await EvaluateAsync(trained.RunId, "baseline", baselineFiles, fresh, settings,
                setup, judge, itemLog, ct);
            evaluated.AddRange(report.Suites);
            foreach (var result in report.Suites)
                await cache.PutAsync(KeyFor(baselineFiles, result.Suite), report.Model, result, work, ct);
        }
        var baseline = new EvalReport(baselineFiles.Adapter ?? baselineFiles.Model, DateTimeOffset.UtcNow,
            [.. baselineSuites.Select(s => cachedSuites.GetValueOrDefault(s) ?? evaluated.Single(r => r.Suite == s))]);
        // Pairwise, the judge compares the candidate's answers with the baseline's: those just generated, or (the
        // baseline's results came from the cache) generated now.
        if (judge is not null && pairwise)
            judge = judge with
            {
                BaselineAnswers = async token => baselineAnswers ??= await AnswersAsync(trained.RunId, baselineFiles,
                    settings, setup, itemLog, token),
            };
        var (candidate, _) = await EvaluateAsync(trained.RunId, "candidate", candidateFiles, suites, settings, setup,
            judge, itemLog, ct);
        // The candidate's results are production's if it is promoted: the next run against it reads them.
        foreach (var result in candidate.Suites.Where(r => baselineSuites.Contains(r.Suite)))
            await cache.PutAsync(KeyFor(candidateFiles, result.Suite), candidate.Model, result, work, ct);

        var decision = RegressionGate.Decide(baseline, candidate, settings.Gate);
        var prefix = $"{trained.Project}/{trained.RunId:N}";
        async Task<ArtifactRef> Put(string name, string text)
        {
            var path = Path.Combine(work, name);
            await File.WriteAllTextAsync(path, text, ct);
            return await store.PutFileAsync(Buckets.Evaluations, $"{prefix}/{name}", path, ct);
        }
        var candidateRef = await Put("candidate_results.json", candidate.ToJson());
        var baselineRef = await Put("baseline_results.json", baseline.ToJson());
        var gateRef = await Put("gate.json", decision.ToJson());
        await Put("gate.md", decision.ToMarkdown());
        var title = $"{trained.Project} version {trained.ModelVersion} against " +
            $"{(production is null ? "the base model" : $"version {production.Version}")}";
        var reportRef = await Put("report.md", ComparisonReport.Markdown(baseline, candidate, decision, title));
        var reportJsonRef = await Put("comparison.json", ComparisonReport.ToJson(baseline, candidate, decision, title)
            .ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

        return new EvaluationOutcome(new EvaluationCompleted
        {
            RunId = trained.RunId, Project = trained.Project, ModelVersion = trained.ModelVersion,
            BaselineVersion = production?.Version,
            CandidateResults = candidateRef, BaselineResults = baselineRef, Gate = gateRef, Report = reportRef,
            ReportJson = reportJsonRef, Settings = trained.Settings,
            Promote = decision.Promote,
            Reasons = [.. decision.Checks.Select(c => $"{c.Metric}: {(c.Passed ? "pass" : "fail")}, {c.Reason}"),
                .. decision.Notes,
                .. cachedSuites.Count == 0 ? Array.Empty<string>()
                    : [$"baseline: {string.Join(", ", cachedSuites.Keys)} from an earlier evaluation of the same " +
                        "model on the same inputs and settings (cache)"]],
            CandidateMetrics = candidate.Metrics.ToDictionary(m => m.Name, m => m.Value),
            BaselineMetrics = baseline.Metrics.ToDictionary(m => m.Name, m => m.Value),
        }, decision);
    }


    async Task<ModelFiles> ModelFilesAsync(ArtifactRef baseModel, ArtifactRef model, string kind,
        CancellationToken ct) =>
        kind == "adapter"
            ? new ModelFiles(await inputs.BundleAsync(baseModel, ct), await inputs.BundleAsync(model, ct),
                baseModel.Sha256, model.Sha256, kind)
            : new ModelFiles(await inputs.BundleAsync(model, ct), null, baseModel.Sha256, model.Sha256, kind);

    (TextTokenizer Tokenizer, ChatTemplate Chat, ICausalLm Model) Open(ModelFiles files, PipelineSettings settings)
    {
        var tokenizer = TokenizerLoader.Load(files.Model);
        var chat = settings.Tokenize.ChatTemplate is { } name ? ChatTemplate.For(ChatTemplate.Parse(name))
            : tokenizer.ChatTemplate ?? ChatTemplate.For(ChatTemplateKind.ChatMl);
        return (tokenizer, chat, Engines.Open(files.Model, EngineKind.Auto, options.Value.Threads, files.Adapter));
    }

    /// <summary>Runs the suites on one model, each resumable from the item log, with progress as run events.
    /// Returns the report and the model's answers to the test split when a suite generated them.</summary>
    async Task<(EvalReport Report, IReadOnlyList<TaskOutput>? Answers)> EvaluateAsync(Guid runId, string role,
        ModelFiles files, IReadOnlyList<string> suites, PipelineSettings settings, SuiteSetup setup,
        JudgeInputs? judge, EvalItemLog itemLog, CancellationToken ct)
    {
        var (tokenizer, chat, model) = Open(files, settings);
        using var lm = model;
        var shared = new EvalSuites(lm, tokenizer, chat, setup.Inputs with { Judge = judge });
        var results = new List<SuiteResult>();
        foreach (var suite in suites)
        {
            var runner = suite is "gsm8k" or "gsm8k_cot"
                ? new EvalSuites(lm, tokenizer, chat, setup.For(suite, settings)) : shared;
            var progress = new EvaluationProgress(ledger, telemetry, log, runId, role, suite);
            var items = itemLog.Scope(suite, EvalSuites.FormatVersion(suite), files.Key,
                setup.Keys.GetValueOrDefault(suite, ""));
            try
            {
                results.Add(await runner.RunAsync(suite, items, progress, ct) with
                {
                    Inputs = setup.Keys.GetValueOrDefault(suite)
                });
            }
            finally
            {
                await progress.FlushAsync();
            }
            if (items.Reused > 0)
                await ledger.EventAsync(runId, "info", $"evaluation: {role} {suite}: {items.Reused} items scored by " +
                    "an earlier attempt were reused", ct: ct);
        }
        return (new EvalReport(files.Adapter ?? files.Model, DateTimeOffset.UtcNow, results), shared.Answers);
    }

    /// <summary>A model's answers to the test split alone (the pairwise judge's baseline side).</summary>
    async Task<IReadOnlyList<TaskOutput>> AnswersAsync(Guid runId, ModelFiles files, PipelineSettings settings,
        SuiteSetup setup, EvalItemLog itemLog, CancellationToken ct)
    {
        var (tokenizer, chat, model) = Open(files, settings);
        using var lm = model;
        var progress = new EvaluationProgress(ledger, telemetry, log, runId, "baseline", "answers");
        var items = itemLog.Scope("answers", TaskEval.RougeFormatVersion, files.Key, setup.Keys["judge"]);
        try
        {
            return await new EvalSuites(lm, tokenizer, chat, setup.Inputs).AnswersAsync(items, progress, ct);
        }
        finally
        {
            await progress.FlushAsync();
        }
    }
}
