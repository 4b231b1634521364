// The live watch on each project's production name, over its last Drift:Window requests, against the production
// version's reference (ProductionReference). Input drift: their prompts, profiled as the data card profiles a
// training set (PromptProfile) — finetune.drift.prompt_length_psi, .word_js, .script_shift, .language_shift,
// .unseen_words — and their labels (the caller's metadata label, or the answer itself when the training data answers
// with its labels) against the training labels: .unseen_labels, .label_shift. Service levels and output quality:
// finetune.quality.error_rate (server errors and full queues), .latency_p95_ms (time to a whole answer),
// .screen_rate (answers the output screen stopped), .invalid_rate (answers that are not documents of the output
// schema the version was deployed with) and .feedback_score (mean rating of the version's rated answers). All are
// OpenTelemetry gauges tagged finetune.project, computed every Drift:CheckSeconds; alert rules (AlertRules) fire once
// when a value crosses its threshold and re-arm when it comes back: a warning in the log, an event on the production
// version's run, a JSON POST to the rule's webhook, and with Retrain a run from the project's new feedback.
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
    /// <summary>Requests per project the live numbers are made of (the newest).</summary>
    public int Window { get; init; } = 500;
    /// <summary>No score before a project's window holds this many requests (labelled ones, for the label scores).
    /// </summary>
    public int MinPrompts { get; init; } = 50;
    /// <summary>No feedback score before the production version has this many rated answers (the newest Window
    /// count).</summary>
    public int MinRatings { get; init; } = 20;
    public double CheckSeconds { get; init; } = 30;

    public static DriftOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<DriftOptions>() ?? new DriftOptions();
}

/// <summary>An alert that fired (or resolved).</summary>
public sealed record DriftAlert(string Project, string Metric, double Value, double Threshold, int Prompts,
    bool Firing, DateTimeOffset At);

public sealed class DriftMonitor : BackgroundService, IRequestLog
{
    public static readonly IReadOnlyList<string> Metrics =
        ["drift.prompt_length_psi", "drift.word_js", "drift.script_shift", "drift.language_shift",
            "drift.unseen_words", "drift.unseen_labels", "drift.label_shift", "quality.error_rate",
            "quality.latency_p95_ms", "quality.screen_rate", "quality.invalid_rate", "quality.feedback_score"];

    readonly RunRegistry _registry;
    readonly ProductionReferences _references;
    readonly DriftOptions _options;
    readonly IReadOnlyList<AlertRule> _rules;
    readonly IHttpClientFactory? _http;
    readonly FeedbackExporter? _exporter;
    readonly ILogger<DriftMonitor> _log;
    readonly TimeProvider _time;
    readonly ConcurrentDictionary<string, LiveWindow> _windows = new();
    readonly ConcurrentDictionary<string, LiveNumbers> _numbers = new();
    readonly ConcurrentDictionary<(string Project, AlertRule Rule), bool> _firing = new();
    readonly ConcurrentQueue<DriftAlert> _alerts = new();

    public DriftMonitor(RunRegistry registry, IArtifactStore store, DriftOptions options,
        IReadOnlyList<AlertRule> rules, ILogger<DriftMonitor> log, IMeterFactory? meters = null,
        IHttpClientFactory? http = null, FeedbackExporter? exporter = null, TimeProvider? time = null)
    {
        (_registry, _options, _rules, _http, _log) = (registry, options, rules, http, log);
        _references = new ProductionReferences(registry, store);
        _exporter = exporter;
        _time = time ?? TimeProvider.System;
        var meter = meters?.Create(ServingMetrics.MeterName) ?? new Meter(ServingMetrics.MeterName);
        foreach (var metric in Metrics)
            meter.CreateObservableGauge("finetune." + metric, () => _numbers
                .Select(n => (Project: n.Key, Value: n.Value.Value(metric))).Where(v => v.Value is not null)
                .Select(v => new Measurement<double>(v.Value!.Value,
                    new KeyValuePair<string, object?>("finetune.project", v.Project))),
                description: $"A project's live {metric} over its last requests");
    }

    public IReadOnlyList<DriftAlert> Alerts => [.. _alerts];
    /// <summary>The numbers over the project's whole window, as the gauges report them (null before the first check
    /// with enough requests).</summary>
    public LiveNumbers? Numbers(string project) => _numbers.TryGetValue(project, out var n) ? n : null;
    public DriftScores? Scores(string project) => Numbers(project)?.Scores;
    public LabelScores? Labels(string project) => Numbers(project)?.Labels;
    public QualityNumbers? Quality(string project) => Numbers(project)?.Quality;

    static string ProjectOf(ServedModel model) =>
        model.Version[..model.Version.LastIndexOf("@v", StringComparison.Ordinal)];

    // The production name's answers only: a candidate or shadow sees the same prompts.
    public bool Records(ServedModel model) => _options.Enabled && model.Version.Contains("@v");

    public void Record(ServedExchange exchange)
    {
        if (exchange.Choice != 0 || exchange.Variant is "shadow" or "candidate")
            return;
        Window(ProjectOf(exchange.Model)).Add(new LiveExchange(PromptText(exchange), exchange.Answer,
            exchange.Label, false, exchange.Latency.TotalMilliseconds, exchange.Screened));
    }

    public void Failed(ServedModel model, TimeSpan latency) =>
        Window(ProjectOf(model)).Add(new LiveExchange("", "", null, true, latency.TotalMilliseconds, false));

    LiveWindow Window(string project) => _windows.GetOrAdd(project, _ => new LiveWindow(_options.Window));

    static string PromptText(ServedExchange exchange)
    {
        using var json = JsonDocument.Parse(exchange.PromptJson);
        if (json.RootElement.ValueKind == JsonValueKind.String)
            return json.RootElement.GetString()!;
        return string.Join("\n", json.RootElement.EnumerateArray()
            .Where(m => m.GetProperty("role").GetString() != "assistant")
            .Select(m => m.GetProperty("content").GetString()));
    }

    /// <summary>Scores every project with enough requests and fires (or re-arms) the alert rules.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        foreach (var (project, window) in _windows.ToList())
        {
            var live = window.Snapshot();
            if (live.Count < _options.MinPrompts || await _references.GetAsync(project, ct) is not { } reference)
                continue;
            var ratings = await _registry.ReadAsync(s => s.ListVersionRatingsAsync(project, reference.Version,
                _options.Window, ct), ct);
            // the whole window (the gauges), and the newest Window requests (and ratings) of a rule that sets one
            var measured = new Dictionary<int, LiveNumbers>();
            LiveNumbers Over(int n) => measured.TryGetValue(n, out var numbers) ? numbers
                : measured[n] = LiveNumbers.Of(n == live.Count ? live : live.TakeLast(n).ToList(),
                    ratings.Take(n).ToList(), reference, _options);
            _numbers[project] = Over(live.Count);
            foreach (var rule in _rules.Where(r => r.Project is null || r.Project == project))
            {
                int n = Math.Min(live.Count, rule.Window is > 0 ? rule.Window.Value : live.Count);
                if (n < _options.MinPrompts || Over(n).Value(rule.Metric) is not { } value)
                    continue;
                bool firing = rule.Fires(value);
                if (_firing.GetValueOrDefault((project, rule)) == firing)
                    continue;
                _firing[(project, rule)] = firing;
                await AlertAsync(new DriftAlert(project, rule.Metric, value, rule.Threshold, n, firing,
                    _time.GetUtcNow()), rule, reference.Run, ct);
            }
        }
    }

    async Task AlertAsync(DriftAlert alert, AlertRule rule, Guid run, CancellationToken ct)
    {
        _alerts.Enqueue(alert);
        var kind = alert.Metric.StartsWith("drift.", StringComparison.Ordinal) ? "drift" : "quality";
        var text = alert.Firing
            ? $"{kind} alert: {alert.Metric} is {alert.Value:0.###}, {(rule.FiresBelow ? "under" : "above")} " +
                $"{alert.Threshold} over the last " +
                $"{alert.Prompts} requests of {alert.Project}" + (kind == "drift"
                    ? " (against the production version's training data)" : "")
            : $"{kind} resolved: {alert.Metric} is {alert.Value:0.###}, back " +
                $"{(rule.FiresBelow ? "above" : "under")} {alert.Threshold} for " +
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
