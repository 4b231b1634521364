// The evaluation stage's work: the candidate and the baseline (the project's production model, or the base model when
// it has none; its results come from BaselineCache when it was evaluated on the same inputs before) on the same suites
// over the prepared test split, then the regression gate. Uploads both results files
// and gate.json/gate.md to the evaluations bucket.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals;
using FineTune.Evals.Gate;
using FineTune.Evals.Scoring;
using FineTune.Models.Generation;
using FineTune.Registry;
using FineTune.Text;
using FineTune.Torch;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Evaluation;

public sealed record EvaluationOutcome(EvaluationCompleted Message, GateDecision Decision);

public sealed class EvaluationStage(IArtifactStore store, RunInputs inputs, RunRegistry registry,
    IOptions<PipelineOptions> options)
{
    readonly BaselineCache cache = new(store);

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

        var candidate = await EvaluateAsync(await ModelPathsAsync(trained.BaseModel, trained.Model, trained.Kind, ct),
            records, settings, schema, ct);
        // The baseline's results come from the cache when it was evaluated on exactly these inputs before.
        var cacheKey = new BaselineCacheKey(
            production?.BaseModel.Sha256 ?? trained.BaseModel.Sha256, production?.Model.Sha256,
            production?.Kind ?? "base", Sha256(recordsPath),
            [.. settings.Evaluation.Suites.Select(s => $"{s}@{FormatVersion(s)}")], settings.Evaluation.MaxNewTokens,
            settings.Evaluation.Limit, settings.Evaluation.BatchSize, settings.Tokenize.ChatTemplate,
            schema?.ToJson().ToJsonString());
        var cached = await cache.TryGetAsync(cacheKey, work, ct);
        var baseline = cached ?? (production is null
            ? await EvaluateAsync((await inputs.BundleAsync(trained.BaseModel, ct), null), records, settings, schema,
                ct)
            : await EvaluateAsync(await ModelPathsAsync(production.BaseModel, production.Model, production.Kind, ct),
                records, settings, schema, ct));
        if (cached is null)
            await cache.PutAsync(cacheKey, baseline, work, ct);

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
            ReportJson = reportJsonRef,
            Promote = decision.Promote,
            Reasons = [.. decision.Checks.Select(c => $"{c.Metric}: {(c.Passed ? "pass" : "fail")}, {c.Reason}"),
                .. decision.Notes,
                .. cached is null ? Array.Empty<string>() : [$"baseline: results of an earlier evaluation of the " +
                    $"same model on the same test set, suites and settings (cache entry {cacheKey.Hash()[..12]})"]],
            CandidateMetrics = candidate.Metrics.ToDictionary(m => m.Name, m => m.Value),
            BaselineMetrics = baseline.Metrics.ToDictionary(m => m.Name, m => m.Value),
        }, decision);
    }

    static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file));
    }

    /// <summary>The prompt and scoring format of a suite: results of different formats are never compared or
    /// cached together.</summary>
    public static string FormatVersion(string suite) => suite switch
    {
        "perplexity" => Perplexity.FormatVersion,
        "rouge" => TaskEval.RougeFormatVersion,
        "bleu" => TaskEval.BleuFormatVersion,
        "chrf" => TaskEval.ChrfFormatVersion,
        "task" => TaskMetrics.FormatVersion,
        _ => throw new InvalidPipelineSettingsException($"evaluation.suites: unknown suite '{suite}'"),
    };

    async Task<(string Model, string? Adapter)> ModelPathsAsync(ArtifactRef baseModel, ArtifactRef model, string kind,
        CancellationToken ct) =>
        kind == "adapter" ? (await inputs.BundleAsync(baseModel, ct),
            await inputs.BundleAsync(model, ct)) : (await inputs.BundleAsync(model, ct), null);

    async Task<EvalReport> EvaluateAsync((string Model, string? Adapter) paths, IReadOnlyList<DataRecord> records,
        PipelineSettings settings,
        TaskSchema? schema, CancellationToken ct)
    {
        var tokenizer = TokenizerLoader.Load(paths.Model);
        var chat = settings.Tokenize.ChatTemplate is { } name ? ChatTemplate.For(ChatTemplate.Parse(name))
            : tokenizer.ChatTemplate ?? ChatTemplate.For(ChatTemplateKind.ChatMl);
        var e = settings.Evaluation;
        using ICausalLm lm = Engines.Open(paths.Model, EngineKind.Auto, options.Value.Threads, paths.Adapter);
        var results = new List<SuiteResult>();
        // rouge, bleu, chrf and task score the same greedy answers, generated once
        IReadOnlyList<TaskOutput>? answers = null;
        async Task<IReadOnlyList<TaskOutput>> Answers() =>
            answers ??= await TaskEval.GenerateAsync(lm, tokenizer, chat, records, e.MaxNewTokens, e.BatchSize,
                e.Limit, ct);
        foreach (var suite in e.Suites)
            results.Add(suite switch
            {
                "perplexity" => Perplexity.Evaluate(lm, TaskEval.Sequences(records, tokenizer, chat, e.Limit), ct),
                "rouge" => TaskEval.Rouge(await Answers()),
                "bleu" => TaskEval.Bleu(await Answers()),
                "chrf" => TaskEval.Chrf(await Answers()),
                "task" => TaskEval.Task(await Answers(), schema),
                _ => throw new InvalidPipelineSettingsException($"evaluation.suites: unknown suite '{suite}'"),
            });
        return new EvalReport(paths.Adapter ?? paths.Model, DateTimeOffset.UtcNow, results);
    }
}
