// The live watch on each project's production name, over its last Drift:Window requests. Input drift: their prompts,
// profiled as the data card profiles a training set (PromptProfile), against the profile of the dataset the
// production version was trained on (finetune.drift.prompt_length_psi, .word_js, .script_shift, .unseen_words).
// Service levels and output quality: the error rate (server errors and full queues), the p95 time to a whole answer,
// the share of answers the output screen stopped (finetune.quality.error_rate, .latency_p95_ms, .screen_rate). All are
// OpenTelemetry gauges tagged finetune.project, computed every Drift:CheckSeconds; alert rules (Alerts:Rules: metric,
// threshold, optional project and webhook) fire once when a value crosses its threshold and re-arm when it falls
// back: a warning in the log, an event on the production version's run, and a JSON POST to the rule's webhook.
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Data.Cleaning;
using FineTune.Registry;
using FineTune.Serving;
using FineTune.Serving.Engine;
using FineTune.Serving.Feedback;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

public sealed record DriftOptions
{
    public const string Section = "Drift";
    public bool Enabled { get; init; } = true;
    /// <summary>Prompts per project the live profile is made of (the newest).</summary>
    public int Window { get; init; } = 500;
    /// <summary>No score before a project's window holds this many prompts.</summary>
    public int MinPrompts { get; init; } = 50;
    public double CheckSeconds { get; init; } = 30;

    public static DriftOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<DriftOptions>() ?? new DriftOptions();
}

/// <summary>Fires when <see cref="Metric"/> (one of DriftMonitor.Metrics) exceeds <see cref="Threshold"/> for
/// <see cref="Project"/> (null: every project).</summary>
public sealed record AlertRule
{
    public string Metric { get; init; } = "";
    public double Threshold { get; init; }
    public string? Project { get; init; }
    public string? Webhook { get; init; }
    /// <summary>When it fires, start a retraining run from the project's new feedback (exported at once, whatever
    /// Feedback:Export's minimum, if its cool-down allows).</summary>
    public bool Retrain { get; init; }
}

public sealed record AlertOptions
{
    public const string Section = "Alerts";
    /// <summary>Without rules of its own a host uses these: PSI above 0.25 is the usual "significant shift"; errors
    /// over 0.1% and a p95 over 2 s are the service levels the guides set.</summary>
    public static readonly IReadOnlyList<AlertRule> Defaults =
    [
        new() { Metric = "drift.prompt_length_psi", Threshold = 0.25 },
        new() { Metric = "drift.word_js", Threshold = 0.3 },
        new() { Metric = "drift.script_shift", Threshold = 0.2 },
        new() { Metric = "quality.error_rate", Threshold = 0.001 },
        new() { Metric = "quality.latency_p95_ms", Threshold = 2_000 },
    ];
    public IReadOnlyList<AlertRule> Rules { get; init; } = [];

    public static IReadOnlyList<AlertRule> From(IConfiguration configuration)
    {
        var rules = configuration.GetSection(Section).Get<AlertOptions>()?.Rules ?? [];
        foreach (var rule in rules)
            if (!DriftMonitor.Metrics.Contains(rule.Metric))
                throw new InvalidOperationException($"Alerts:Rules: metric '{rule.Metric}' is unknown; expected one " +
                    $"of {string.Join(", ", DriftMonitor.Metrics)}.");
        return rules.Count > 0 ? rules : Defaults;
    }
}

/// <summary>A project's service levels and output quality over its last requests.</summary>
public sealed record QualityNumbers(int Requests, double ErrorRate, double LatencyP95Ms, double ScreenRate)
{
    public static QualityNumbers Of(IReadOnlyList<(bool Error, double Ms, bool Screened)> outcomes)
    {
        var answered = outcomes.Where(o => !o.Error).Select(o => o.Ms).Order().ToArray();
        double p95 = answered.Length == 0 ? 0
            : answered[Math.Min(answered.Length - 1, (int)Math.Ceiling(0.95 * answered.Length) - 1)];
        return new(outcomes.Count, (double)outcomes.Count(o => o.Error) / outcomes.Count, p95,
            (double)outcomes.Count(o => o.Screened) / outcomes.Count);
    }
}

/// <summary>An alert that fired (or resolved).</summary>
public sealed record DriftAlert(string Project, string Metric, double Value, double Threshold, int Prompts,
    bool Firing, DateTimeOffset At);

public sealed class DriftMonitor : BackgroundService, IRequestLog
{
    public static readonly IReadOnlyList<string> Metrics =
        ["drift.prompt_length_psi", "drift.word_js", "drift.script_shift", "drift.unseen_words",
            "quality.error_rate", "quality.latency_p95_ms", "quality.screen_rate"];

    readonly RunRegistry _registry;
    readonly IArtifactStore _store;
    readonly DriftOptions _options;
    readonly IReadOnlyList<AlertRule> _rules;
    readonly IHttpClientFactory? _http;
    readonly FeedbackExporter? _exporter;
    readonly ILogger<DriftMonitor> _log;
    readonly TimeProvider _time;
    readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _windows = new();
    readonly ConcurrentDictionary<string, (int Version, PromptProfile? Profile)> _references = new();
    readonly ConcurrentDictionary<string, DriftScores> _scores = new();
    readonly ConcurrentDictionary<string, ConcurrentQueue<(bool Error, double Ms, bool Screened)>> _outcomes = new();
    readonly ConcurrentDictionary<string, QualityNumbers> _quality = new();
    readonly ConcurrentDictionary<(string Project, AlertRule Rule), bool> _firing = new();
    readonly ConcurrentQueue<DriftAlert> _alerts = new();

    public DriftMonitor(RunRegistry registry, IArtifactStore store, DriftOptions options,
        IReadOnlyList<AlertRule> rules, ILogger<DriftMonitor> log, IMeterFactory? meters = null,
        IHttpClientFactory? http = null, FeedbackExporter? exporter = null, TimeProvider? time = null)
    {
        (_registry, _store, _options, _rules, _http, _log) = (registry, store, options, rules, http, log);
        _exporter = exporter;
        _time = time ?? TimeProvider.System;
        var meter = meters?.Create(ServingMetrics.MeterName) ?? new Meter(ServingMetrics.MeterName);
        foreach (var metric in Metrics)
            meter.CreateObservableGauge("finetune." + metric, () => _scores.Keys.Union(_quality.Keys)
                .Select(p => (Project: p, Value: Value(p, metric))).Where(v => v.Value is not null)
                .Select(v => new Measurement<double>(v.Value!.Value,
                    new KeyValuePair<string, object?>("finetune.project", v.Project))),
                description: $"A project's live {metric} over its last requests");
    }

    public IReadOnlyList<DriftAlert> Alerts => [.. _alerts];
    public DriftScores? Scores(string project) => _scores.TryGetValue(project, out var s) ? s : null;
    public QualityNumbers? Quality(string project) => _quality.TryGetValue(project, out var q) ? q : null;

    double? Value(string project, string metric)
    {
        if (metric.StartsWith("quality.", StringComparison.Ordinal))
            return Quality(project) is not { } q ? null : metric switch
            {
                "quality.error_rate" => q.ErrorRate,
                "quality.latency_p95_ms" => q.LatencyP95Ms,
                _ => q.ScreenRate,
            };
        return Scores(project) is not { } s ? null : metric switch
        {
            "drift.prompt_length_psi" => s.LengthPsi,
            "drift.word_js" => s.WordJs,
            "drift.script_shift" => s.ScriptShift,
            _ => s.UnseenWords,
        };
    }

    static string ProjectOf(ServedModel model) =>
        model.Version[..model.Version.LastIndexOf("@v", StringComparison.Ordinal)];

    // The production name's answers only: a candidate or shadow sees the same prompts.
    public bool Records(ServedModel model) => _options.Enabled && model.Version.Contains("@v");

    public void Record(ServedExchange exchange)
    {
        if (exchange.Choice != 0 || exchange.Variant is "shadow" or "candidate")
            return;
        var project = ProjectOf(exchange.Model);
        Keep(_windows, project, PromptText(exchange));
        Keep(_outcomes, project, (false, exchange.Latency.TotalMilliseconds, exchange.Screened));
    }

    public void Failed(ServedModel model, TimeSpan latency) =>
        Keep(_outcomes, ProjectOf(model), (true, latency.TotalMilliseconds, false));

    void Keep<T>(ConcurrentDictionary<string, ConcurrentQueue<T>> windows, string project, T item)
    {
        var window = windows.GetOrAdd(project, _ => new ConcurrentQueue<T>());
        window.Enqueue(item);
        while (window.Count > _options.Window)
            window.TryDequeue(out _);
    }

    static string PromptText(ServedExchange exchange)
    {
        using var json = JsonDocument.Parse(exchange.PromptJson);
        if (json.RootElement.ValueKind == JsonValueKind.String)
            return json.RootElement.GetString()!;
        return string.Join("\n", json.RootElement.EnumerateArray()
            .Where(m => m.GetProperty("role").GetString() != "assistant")
            .Select(m => m.GetProperty("content").GetString()));
    }

    /// <summary>Scores every project with enough prompts and fires (or re-arms) the alert rules.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        foreach (var project in _windows.Keys.Union(_outcomes.Keys).ToList())
        {
            int requests = _outcomes.TryGetValue(project, out var outcomes) ? outcomes.Count : 0;
            if (requests < _options.MinPrompts || await ReferenceAsync(project, ct) is not { } reference)
                continue;
            _quality[project] = QualityNumbers.Of([.. outcomes!]);
            if (reference.Profile is not null && _windows.TryGetValue(project, out var window)
                && window.Count >= _options.MinPrompts)
            {
                var live = new PromptProfile();
                foreach (var prompt in window)
                    live.Add(prompt);
                _scores[project] = reference.Profile.Compare(live);
            }
            foreach (var rule in _rules.Where(r => r.Project is null || r.Project == project))
            {
                if (Value(project, rule.Metric) is not { } value)
                    continue;
                bool firing = value > rule.Threshold;
                if (_firing.GetValueOrDefault((project, rule)) == firing)
                    continue;
                _firing[(project, rule)] = firing;
                await AlertAsync(new DriftAlert(project, rule.Metric, value, rule.Threshold, requests, firing,
                    _time.GetUtcNow()), rule, reference.Run, ct);
            }
        }
    }

    // The production version's run (alerts go to it) and its training data's prompt profile (null: none kept).
    async Task<(PromptProfile? Profile, Guid Run)?> ReferenceAsync(string project, CancellationToken ct)
    {
        var (version, run, card) = await _registry.ReadAsync(async s =>
        {
            if (await s.GetAliasAsync(project, "production", ct) is not { } v
                || await s.GetModelVersionAsync(project, v, ct) is not { } record)
                return (0, Guid.Empty, (FineTune.Contracts.ArtifactRef?)null);
            var datasets = await s.ListDatasetsAsync(project, ct);
            var dataset = datasets.FirstOrDefault(d => d.RunId == record.RunId) ?? datasets.LastOrDefault();
            return (v, record.RunId, dataset?.DataCard);
        }, ct);
        if (version == 0)
            return null;
        if (card is null)
            return (null, run);
        if (!_references.TryGetValue(project, out var known) || known.Version != version)
        {
            var path = Path.Combine(Path.GetTempPath(), $"drift-card-{Guid.NewGuid():N}.json");
            try
            {
                await _store.GetFileAsync(card, path, ct);
                using var json = JsonDocument.Parse(await File.ReadAllTextAsync(path, ct));
                known = (version, json.RootElement.TryGetProperty("prompt_profile", out var p)
                    ? PromptProfile.Read(p) : null);
                _references[project] = known;
            }
            finally
            {
                File.Delete(path);
            }
        }
        return (known.Profile, run);
    }

    async Task AlertAsync(DriftAlert alert, AlertRule rule, Guid run, CancellationToken ct)
    {
        _alerts.Enqueue(alert);
        var kind = alert.Metric.StartsWith("drift.", StringComparison.Ordinal) ? "drift" : "quality";
        var text = alert.Firing
            ? $"{kind} alert: {alert.Metric} is {alert.Value:0.###}, above {alert.Threshold} over the last " +
                $"{alert.Prompts} requests of {alert.Project}" + (kind == "drift"
                    ? " (against the production version's training data)" : "")
            : $"{kind} resolved: {alert.Metric} is {alert.Value:0.###}, back under {alert.Threshold} for " +
                $"{alert.Project}";
        if (alert.Firing && rule.Retrain && _exporter is not null)
            text += await _exporter.ExportAsync(alert.Project, 1, ct) is { } key
                ? $"; retraining from the project's new feedback ({key})"
                : "; no retraining: no new feedback to train on, or the export cool-down has not passed";
        if (alert.Firing)
            _log.LogWarning("{Alert}", text);
        else
            _log.LogInformation("{Alert}", text);
        var data = JsonSerializer.Serialize(alert, PipelineSettings.Json);
        await _registry.WriteAsync(s => s.AppendEventAsync(run, alert.Firing ? "warn" : "info", "message", text,
            data, ct), ct);
        if (rule.Webhook is { Length: > 0 } hook && _http is not null)
            try
            {
                using var client = _http.CreateClient(nameof(DriftMonitor));
                using var response = await client.PostAsync(hook, new StringContent(data,
                    System.Text.Encoding.UTF8, "application/json"), ct);
                if (!response.IsSuccessStatusCode)
                    _log.LogWarning("The alert webhook answered {Status}", (int)response.StatusCode);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                _log.LogWarning("The alert webhook could not be reached: {Error}", e.Message);
            }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _options.Enabled
        ? Periodic.RunAsync(TimeSpan.FromSeconds(Math.Max(1, _options.CheckSeconds)), _time, CheckAsync, _log,
            "Measuring drift", stoppingToken)
        : Task.CompletedTask;
}
