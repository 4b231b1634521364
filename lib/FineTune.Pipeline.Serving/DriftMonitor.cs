// Input drift per project: the prompts of the last Drift:Window requests each project's production name answered,
// profiled as the data card profiles a training set (PromptProfile), compared every Drift:CheckSeconds with the
// profile of the dataset the production version was trained on. The scores are OpenTelemetry gauges
// (finetune.drift.prompt_length_psi, .word_js, .script_shift, .unseen_words, tagged finetune.project); alert rules
// (Alerts:Rules: metric, threshold, optional project and webhook) fire once when a score crosses its threshold and
// re-arm when it falls back: a warning in the log, an event on the production version's run, and a JSON POST to the
// rule's webhook when it has one.
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

/// <summary>Fires when <see cref="Metric"/> (drift.prompt_length_psi, drift.word_js, drift.script_shift,
/// drift.unseen_words) exceeds <see cref="Threshold"/> for <see cref="Project"/> (null: every project).</summary>
public sealed record AlertRule
{
    public string Metric { get; init; } = "";
    public double Threshold { get; init; }
    public string? Project { get; init; }
    public string? Webhook { get; init; }
}

public sealed record AlertOptions
{
    public const string Section = "Alerts";
    /// <summary>Without rules of its own a host uses these: PSI above 0.25 is the usual "significant shift".</summary>
    public static readonly IReadOnlyList<AlertRule> Defaults =
    [
        new() { Metric = "drift.prompt_length_psi", Threshold = 0.25 },
        new() { Metric = "drift.word_js", Threshold = 0.3 },
        new() { Metric = "drift.script_shift", Threshold = 0.2 },
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

/// <summary>An alert that fired (or resolved).</summary>
public sealed record DriftAlert(string Project, string Metric, double Value, double Threshold, int Prompts,
    bool Firing, DateTimeOffset At);

public sealed class DriftMonitor : BackgroundService, IRequestLog
{
    public static readonly IReadOnlyList<string> Metrics =
        ["drift.prompt_length_psi", "drift.word_js", "drift.script_shift", "drift.unseen_words"];

    readonly RunRegistry _registry;
    readonly IArtifactStore _store;
    readonly DriftOptions _options;
    readonly IReadOnlyList<AlertRule> _rules;
    readonly IHttpClientFactory? _http;
    readonly ILogger<DriftMonitor> _log;
    readonly TimeProvider _time;
    readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _windows = new();
    readonly ConcurrentDictionary<string, (int Version, PromptProfile? Profile)> _references = new();
    readonly ConcurrentDictionary<string, DriftScores> _scores = new();
    readonly ConcurrentDictionary<(string Project, AlertRule Rule), bool> _firing = new();
    readonly ConcurrentQueue<DriftAlert> _alerts = new();

    public DriftMonitor(RunRegistry registry, IArtifactStore store, DriftOptions options,
        IReadOnlyList<AlertRule> rules, ILogger<DriftMonitor> log, IMeterFactory? meters = null,
        IHttpClientFactory? http = null, TimeProvider? time = null)
    {
        (_registry, _store, _options, _rules, _http, _log) = (registry, store, options, rules, http, log);
        _time = time ?? TimeProvider.System;
        var meter = meters?.Create(ServingMetrics.MeterName) ?? new Meter(ServingMetrics.MeterName);
        foreach (var metric in Metrics)
            meter.CreateObservableGauge("finetune." + metric, () => _scores.Select(s =>
                new Measurement<double>(Value(s.Value, metric), new KeyValuePair<string, object?>("finetune.project",
                    s.Key))), description: $"Input drift of a project's live prompts from its training data: {metric}");
    }

    public IReadOnlyList<DriftAlert> Alerts => [.. _alerts];
    public DriftScores? Scores(string project) => _scores.TryGetValue(project, out var s) ? s : null;

    static double Value(DriftScores s, string metric) => metric switch
    {
        "drift.prompt_length_psi" => s.LengthPsi,
        "drift.word_js" => s.WordJs,
        "drift.script_shift" => s.ScriptShift,
        _ => s.UnseenWords,
    };

    // The production name's answers only: a candidate or shadow sees the same prompts.
    public bool Records(ServedModel model) => _options.Enabled && model.Version.Contains("@v");

    public void Record(ServedExchange exchange)
    {
        if (exchange.Choice != 0 || exchange.Variant is "shadow" or "candidate")
            return;
        var project = exchange.Model.Version[..exchange.Model.Version.LastIndexOf("@v", StringComparison.Ordinal)];
        var window = _windows.GetOrAdd(project, _ => new ConcurrentQueue<string>());
        window.Enqueue(PromptText(exchange));
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
        foreach (var (project, window) in _windows)
        {
            if (window.Count < _options.MinPrompts || await ReferenceAsync(project, ct) is not { } reference)
                continue;
            var live = new PromptProfile();
            foreach (var prompt in window)
                live.Add(prompt);
            var scores = reference.Profile.Compare(live);
            _scores[project] = scores;
            foreach (var rule in _rules.Where(r => r.Project is null || r.Project == project))
            {
                double value = Value(scores, rule.Metric);
                bool firing = value > rule.Threshold;
                if (_firing.GetValueOrDefault((project, rule)) == firing)
                    continue;
                _firing[(project, rule)] = firing;
                await AlertAsync(new DriftAlert(project, rule.Metric, value, rule.Threshold, (int)live.Prompts,
                    firing, _time.GetUtcNow()), rule, reference.Run, ct);
            }
        }
    }

    async Task<(PromptProfile Profile, Guid Run)?> ReferenceAsync(string project, CancellationToken ct)
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
        if (card is null)
            return null;
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
        return known.Profile is null ? null : (known.Profile, run);
    }

    async Task AlertAsync(DriftAlert alert, AlertRule rule, Guid run, CancellationToken ct)
    {
        _alerts.Enqueue(alert);
        var text = alert.Firing
            ? $"drift alert: {alert.Metric} is {alert.Value:0.###}, above {alert.Threshold} over the last " +
                $"{alert.Prompts} prompts of {alert.Project} (against the production version's training data)"
            : $"drift resolved: {alert.Metric} is {alert.Value:0.###}, back under {alert.Threshold} for " +
                $"{alert.Project}";
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
