// What the console's pages show, read from the registry and the artifact store: the runs (with the stage each one is
// in), one run's whole story (stages, events, checkpoints, lineage, the evaluation side by side with its intervals and
// the gate's rules), and the model registry (versions with their verdicts, aliases, deployment history).
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;

namespace FineTune.Console;

/// <summary>One row of the runs list; Stage: the stage running now (null when none is); Step and Steps: how far its
/// training is (the newest logged step of a run that has not ended).</summary>
public sealed record RunRow(RunRecord Run, string? Stage, int? Step = null, int? Steps = null);

/// <summary>One gate rule: its metric, kind (improve / no_regression), threshold, the change and its 95% interval.
/// </summary>
public sealed record GateCheck(string Metric, string Kind, double Threshold, double Baseline, double Candidate,
    double Delta, double? DeltaLow, double? DeltaHigh, bool Passed, string Reason);

/// <summary>One metric side by side: the candidate's value with its 95% interval (when the suite gives one) and the
/// rule that judged it (null: not a gate metric).</summary>
public sealed record MetricRow(string Metric, double? Baseline, double? Candidate, double? Low, double? High,
    GateCheck? Rule);

/// <summary>One of the items the candidate did worst on against the baseline (the comparison's regressions): the
/// scores are the suite's per-item metric (e.g. ROUGE-L) for each side.</summary>
public sealed record Regression(long Line, string Prompt, string Reference, string Baseline, string Candidate,
    string Metric, double? BaselineScore, double? CandidateScore);

public sealed record EvaluationView(EvaluationRecord Record, IReadOnlyList<MetricRow> Metrics,
    IReadOnlyList<string> Notes, IReadOnlyList<Regression>? Regressions = null);

/// <summary>The data card as the run page draws it: records at each step (read, valid, unique, then the splits),
/// rejects by problem code, labels, and per split what tokenization kept (null: that stage has not run).</summary>
public sealed record DataView(IReadOnlyList<(string Step, long Records)> Funnel,
    IReadOnlyList<(string Code, long Records)> Rejects, IReadOnlyList<(string Label, long Records)> Labels,
    IReadOnlyList<TokenizedSplit>? Tokens, int? MaxLength)
{
    /// <summary>A few rejected records per problem code, from the run's rejects.jsonl: line, field and reason (never
    /// the record's text).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<RejectExample>> RejectExamples { get; init; } =
        new Dictionary<string, IReadOnlyList<RejectExample>>();
}

public sealed record RejectExample(long Line, string? Field, string Reason);

/// <summary>What tokenization kept of one split, and its examples by token length ("16–19" → examples; empty from a
/// tokenization stage older than the histograms).</summary>
public sealed record TokenizedSplit(string Split, long Examples, long Truncated, long Dropped, long Tokens,
    IReadOnlyList<(string Lengths, long Records)> Histogram);

public sealed record RunView(RunRecord Run, IReadOnlyList<StageRecord> Stages, IReadOnlyList<LineageEdge> Lineage,
    IReadOnlyList<CheckpointRecord> Checkpoints, EvaluationView? Evaluation, DataView? Data = null);

public sealed record VersionRow(ModelVersionRecord Version, EvaluationRecord? Evaluation,
    IReadOnlyList<string> Aliases);

/// <summary>One project on the projects page: its runs, its versions, the version in production, whether the
/// signed-in key may act on it.</summary>
public sealed record ProjectRow(ProjectRecord Project, int Versions, int? Production, bool Admin);

public sealed record RegistryView(IReadOnlyList<VersionRow> Versions, IReadOnlyList<DeploymentRecord> History);

public sealed class ConsoleData(RunRegistry registry, IArtifactStore store)
{
    readonly System.Collections.Concurrent.ConcurrentDictionary<(string Card, bool Tokenized), DataView> _data = new();
    // per run still going: the last event read and the newest training step seen, so each refresh reads only news
    readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, (long Seq, int? Step, int? Steps)> _progress =
        new();

    /// <summary>The newest runs <paramref name="access"/> may see, of one project or of all it may see.</summary>
    public Task<IReadOnlyList<RunRow>> RunsAsync(string? project, int limit, ConsoleAccess access,
        CancellationToken ct) =>
        registry.ReadAsync<IReadOnlyList<RunRow>>(async s =>
        {
            if (project is not null && !access.CanView(project))
                return [];
            // one project, each project the key may see, or (null) every project
            var projects = new List<string?>();
            if (project is not null)
                projects.Add(project);
            else if (access.Visible is { } visible)
                projects.AddRange(visible);
            else
                projects.Add(null);
            var runs = new List<RunRecord>();
            foreach (var p in projects)
                runs.AddRange(await s.ListRunsAsync(p, limit, ct));
            var rows = new List<RunRow>();
            foreach (var run in runs.OrderByDescending(r => r.CreatedAt).ThenBy(r => r.RunId).Take(limit))
            {
                if (RunStatus.IsTerminal(run.Status))
                {
                    _progress.TryRemove(run.RunId, out _);
                    rows.Add(new RunRow(run, null));
                    continue;
                }
                var stage = (await s.ListStagesAsync(run.RunId, ct)).LastOrDefault(x => x.FinishedAt is null)?.Stage;
                var progress = await ProgressAsync(s, run.RunId, ct);
                rows.Add(new RunRow(run, stage, progress.Step, progress.Steps));
            }
            return rows;
        }, ct);

    async Task<(long Seq, int? Step, int? Steps)> ProgressAsync(IRegistrySession s, Guid run, CancellationToken ct)
    {
        if (_progress.Count > 10_000)
            _progress.Clear();
        var known = _progress.GetValueOrDefault(run);
        for (IReadOnlyList<RunEventRecord> page; (page = await s.ListEventsAsync(run, known.Seq, 1000, ct)).Count > 0;)
        {
            foreach (var e in page.Where(e => e.Type == "metrics" && e.DataJson is not null))
            {
                using var json = JsonDocument.Parse(e.DataJson!);
                if (json.RootElement.TryGetProperty("step", out var step) && step.ValueKind == JsonValueKind.Number
                    && json.RootElement.TryGetProperty("total_steps", out var total)
                    && total.ValueKind == JsonValueKind.Number)
                    (known.Step, known.Steps) = (step.GetInt32(), total.GetInt32());
            }
            known.Seq = page[^1].Seq;
            if (page.Count < 1000)
                break;
        }
        return _progress[run] = known;
    }

    /// <summary>The projects <paramref name="access"/> may see, most recently active first, each with its
    /// production version and how many versions it has.</summary>
    public Task<IReadOnlyList<ProjectRow>> ProjectsAsync(ConsoleAccess access, CancellationToken ct) =>
        registry.ReadAsync<IReadOnlyList<ProjectRow>>(async s =>
        {
            var aliases = await s.ListAliasesAsync(null, ct);
            var versions = (await s.ListModelVersionsAsync(null, ct)).CountBy(v => v.Project)
                .ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
            return [.. (await s.ListProjectsAsync(500, ct)).Where(p => access.CanView(p.Project))
                .Select(p => new ProjectRow(p, versions.GetValueOrDefault(p.Project),
                    aliases.FirstOrDefault(a => a.Project == p.Project && a.Alias == "production")?.Version,
                    access.CanAdmin(p.Project)))];
        }, ct);

    public Task<IReadOnlyList<RunEventRecord>> EventsAsync(Guid run, long after, CancellationToken ct) =>
        registry.ReadAsync(s => s.ListEventsAsync(run, after, 1000, ct), ct);

    public async Task<RunView?> RunAsync(Guid id, CancellationToken ct)
    {
        var found = await registry.ReadAsync(async s =>
        {
            if (await s.GetRunAsync(id, ct) is not { } run)
                return null;
            var evaluation = run.ModelVersion is { } v ? await s.GetEvaluationAsync(run.Project, v, ct) : null;
            return new
            {
                Run = run, Stages = await s.ListStagesAsync(id, ct), Lineage = await s.ListLineageAsync(id, ct),
                Checkpoints = await s.ListCheckpointsAsync(id, ct), Artifacts = await s.ListArtifactsAsync(id, ct),
                Evaluation = evaluation is not null && evaluation.RunId == id ? evaluation : null,
                Dataset = (await s.ListDatasetsAsync(run.Project, ct)).FirstOrDefault(d => d.RunId == id),
                Tokenized = await s.GetStageOutputAsync(id, Stages.Tokenization, ct),
                Evaluated = await s.GetStageOutputAsync(id, Stages.Evaluation, ct),
            };
        }, ct);
        if (found is null)
            return null;
        EvaluationView? evaluation = null;
        if (found.Evaluation is { } record)
        {
            var results = found.Artifacts.LastOrDefault(a => a.Kind == "evaluation")?.Artifact;
            evaluation = await EvaluationAsync(record, results, ct);
            if (found.Evaluated is not null && FineTune.Pipeline.StageOutput.Parse(found.Evaluated) is { } output
                && output.Is<EvaluationCompleted>() && output.As<EvaluationCompleted>().ReportJson is { } comparison)
                evaluation = evaluation with { Regressions = await RegressionsAsync(comparison, ct) };
        }
        DataView? data = null;
        if (found.Dataset is { } dataset)
        {
            // a data card never changes, and tokenization adds to it once: read each pair once
            var key = (dataset.DataCard.Sha256, found.Tokenized is not null);
            if (!_data.TryGetValue(key, out data))
            {
                if (_data.Count >= 256)
                    _data.Clear();
                data = _data[key] = await DataAsync(dataset.DataCard, found.Tokenized, ct);
            }
        }
        return new RunView(found.Run, found.Stages, found.Lineage, found.Checkpoints, evaluation, data);
    }

    async Task<DataView> DataAsync(ArtifactRef card, string? tokenizedOutput, CancellationToken ct)
    {
        using var json = JsonDocument.Parse(await ReadAsync(card, ct));
        var counts = json.RootElement.GetProperty("counts");
        long Count(string name) => counts.TryGetProperty(name, out var v) ? v.GetInt64() : 0;
        long input = Count("input"), valid = input - Count("rejected");
        long unique = valid - Count("exact_duplicates") - Count("near_duplicates");
        var funnel = new List<(string, long)> { ("read", input), ("valid", valid), ("unique", unique),
            ("train", Count("train")), ("validation", Count("validation")), ("test", Count("test")) };
        var rejects = counts.TryGetProperty("rejected_by_code", out var byCode)
            ? byCode.EnumerateObject().Select(p => (p.Name, p.Value.GetInt64())).OrderByDescending(p => p.Item2)
                .ToList() : [];
        var labels = json.RootElement.TryGetProperty("labels", out var l)
            ? l.GetProperty("counts").EnumerateObject().Select(p => (p.Name, p.Value.GetInt64()))
                .OrderByDescending(p => p.Item2).ToList() : [];
        List<TokenizedSplit>? tokens = null;
        int? maxLength = null;
        if (tokenizedOutput is not null && FineTune.Pipeline.StageOutput.Parse(tokenizedOutput) is { } output
            && output.Is<DatasetTokenized>() && output.As<DatasetTokenized>() is { Splits: { } splits } tokenized)
        {
            maxLength = tokenized.MaxLength;
            tokens = [.. splits.Select(kv => new TokenizedSplit(kv.Key, kv.Value.Examples, kv.Value.Truncated,
                kv.Value.Dropped, kv.Value.Tokens, Histogram(kv.Value.Lengths)))];
        }
        return new DataView(funnel, rejects, labels, tokens, maxLength)
        {
            RejectExamples = rejects.Count == 0 ? new Dictionary<string, IReadOnlyList<RejectExample>>()
                : await RejectExamplesAsync(card, ct),
        };
    }

    // The ingestion stage writes rejects.jsonl beside the data card; the first few lines of each code are read (at
    // most 10,000 lines, so a file of millions of rejects costs no more).
    async Task<Dictionary<string, IReadOnlyList<RejectExample>>> RejectExamplesAsync(ArtifactRef card,
        CancellationToken ct)
    {
        const int PerCode = 3, MaxLines = 10_000;
        var examples = new Dictionary<string, List<RejectExample>>(StringComparer.Ordinal);
        int slash = card.Key.LastIndexOf('/');
        var key = (slash < 0 ? "" : card.Key[..(slash + 1)]) + "rejects.jsonl";
        if (await store.StatAsync(card.Bucket, key, ct) is not { Sha256: { } sha } info)
            return [];
        var path = Path.Combine(Path.GetTempPath(), $"rejects-{Guid.NewGuid():N}.jsonl");
        try
        {
            await store.GetFileAsync(new ArtifactRef(card.Bucket, key, sha, info.Bytes), path, ct);
            int read = 0;
            foreach (var line in File.ReadLines(path))
            {
                if (++read > MaxLines)
                    break;
                using var json = JsonDocument.Parse(line);
                var r = json.RootElement;
                if (r.TryGetProperty("code", out var c) && c.GetString() is { } code
                    && (examples.TryGetValue(code, out var list) ? list : examples[code] = []) is { Count: < PerCode }
                    and var some)
                    some.Add(new RejectExample(r.TryGetProperty("line", out var l) ? l.GetInt64() : 0,
                        r.TryGetProperty("field", out var f) ? f.GetString() : null,
                        r.TryGetProperty("reason", out var why) ? why.GetString() ?? "" : ""));
            }
        }
        finally
        {
            File.Delete(path);
        }
        return examples.ToDictionary(e => e.Key, e => (IReadOnlyList<RejectExample>)e.Value,
            StringComparer.Ordinal);
    }

    static List<(string, long)> Histogram(IReadOnlyDictionary<int, long>? lengths) =>
        lengths is null ? [] : [.. lengths.OrderBy(b => b.Key).Select(b => (
            FineTune.Data.Tokenization.LengthBuckets.Upper(b.Key) is var upper && upper == b.Key
                ? b.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{b.Key}–{upper}"), b.Value))];

    async Task<EvaluationView> EvaluationAsync(EvaluationRecord record, ArtifactRef? results, CancellationToken ct)
    {
        var candidate = Numbers(record.CandidateMetricsJson);
        var baseline = Numbers(record.BaselineMetricsJson);
        var checks = new Dictionary<string, GateCheck>(StringComparer.Ordinal);
        var notes = new List<string>();
        using (var gate = JsonDocument.Parse(await ReadAsync(record.Gate, ct)))
        {
            foreach (var c in gate.RootElement.GetProperty("checks").EnumerateArray())
                checks[c.GetProperty("metric").GetString()!] = new GateCheck(c.GetProperty("metric").GetString()!,
                    c.GetProperty("kind").GetString()!, c.GetProperty("threshold").GetDouble(),
                    c.GetProperty("baseline").GetDouble(), c.GetProperty("candidate").GetDouble(),
                    c.GetProperty("delta").GetDouble(), Nullable(c, "delta_low"), Nullable(c, "delta_high"),
                    c.GetProperty("passed").GetBoolean(), c.GetProperty("reason").GetString()!);
            if (gate.RootElement.TryGetProperty("notes", out var n))
                notes.AddRange(n.EnumerateArray().Select(x => x.GetString()!));
        }
        var intervals = new Dictionary<string, (double? Low, double? High)>(StringComparer.Ordinal);
        if (results is not null)
        {
            using var json = JsonDocument.Parse(await ReadAsync(results, ct));
            foreach (var suite in json.RootElement.GetProperty("suites").EnumerateArray())
                foreach (var m in suite.GetProperty("metrics").EnumerateArray())
                    intervals[m.GetProperty("name").GetString()!] = (Nullable(m, "low"), Nullable(m, "high"));
        }
        var rows = candidate.Keys.Union(baseline.Keys).Order(StringComparer.Ordinal)
            .Select(name => new MetricRow(name, baseline.TryGetValue(name, out var b) ? b : null,
                candidate.TryGetValue(name, out var c) ? c : null, intervals.GetValueOrDefault(name).Low,
                intervals.GetValueOrDefault(name).High, checks.GetValueOrDefault(name)))
            .OrderBy(r => r.Rule is null).ToList();
        return new EvaluationView(record, rows, notes);
    }

    async Task<IReadOnlyList<Regression>> RegressionsAsync(ArtifactRef comparison, CancellationToken ct)
    {
        using var json = JsonDocument.Parse(await ReadAsync(comparison, ct));
        if (!json.RootElement.TryGetProperty("regressions", out var items))
            return [];
        static string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText() : "";
        return [.. items.EnumerateArray().Select(r =>
        {
            // the per-item score each side got: "baseline_<metric>" and "candidate_<metric>"
            var score = r.EnumerateObject().FirstOrDefault(p => p.Name.StartsWith("baseline_", StringComparison
                .Ordinal) && p.Value.ValueKind == JsonValueKind.Number);
            var metric = score.Name is { } n ? n["baseline_".Length..] : "";
            return new Regression(r.TryGetProperty("line", out var l) ? l.GetInt64() : 0, Text(r, "prompt"),
                Text(r, "reference"), Text(r, "baseline"), Text(r, "candidate"), metric,
                metric.Length > 0 ? score.Value.GetDouble() : null,
                metric.Length > 0 ? Nullable(r, "candidate_" + metric) : null);
        })];
    }

    static double? Nullable(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    static Dictionary<string, double> Numbers(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, double>>(json) ?? [];

    /// <summary>The versions and deployments of one project, or of every project <paramref name="access"/> may see.
    /// </summary>
    public Task<RegistryView> RegistryAsync(string? project, ConsoleAccess access, CancellationToken ct) =>
        registry.ReadAsync(async s =>
        {
            if (project is not null && !access.CanView(project))
                return new RegistryView([], []);
            var aliases = (await s.ListAliasesAsync(project, ct)).Where(a => access.CanView(a.Project)).ToList();
            var rows = new List<VersionRow>();
            var history = new List<DeploymentRecord>();
            foreach (var v in (await s.ListModelVersionsAsync(project, ct)).Where(v => access.CanView(v.Project))
                .OrderBy(v => v.Project, StringComparer.Ordinal).ThenByDescending(v => v.Version))
                rows.Add(new VersionRow(v, await s.GetEvaluationAsync(v.Project, v.Version, ct), [.. aliases
                    .Where(a => a.Project == v.Project && a.Version == v.Version).Select(a => a.Alias)]));
            foreach (var (p, alias) in aliases.Select(a => (a.Project, a.Alias)).Distinct())
                history.AddRange(await s.ListDeploymentsAsync(p, alias, ct));
            return new RegistryView(rows, [.. history.OrderByDescending(h => h.Id)]);
        }, ct);

    Task<string> ReadAsync(ArtifactRef artifact, CancellationToken ct) => ArtifactText.ReadAsync(store, artifact, ct);
}
