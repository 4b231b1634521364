// The feedback export policy (Feedback:Export, off by default): once a project has MinCount new examples of the
// configured kind (sft from corrections, preference pairs, or kto ratings) and its last export is CooldownMinutes old,
// they are written as one JSONL file into the project's ingestion prefix (<project>/feedback-<time>-<kind>.jsonl),
// so retraining starts as for any new file; the feedback rows keep the file's key, and the run the file starts records
// the feedback as its source in the lineage (BucketWatcher).
using System.Text;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Pipeline.Feedback;
using FineTune.Registry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

public sealed record FeedbackExportOptions
{
    public const string Section = "Feedback:Export";
    public bool Enabled { get; init; }
    public FeedbackKind Kind { get; init; } = FeedbackKind.Sft;
    /// <summary>New examples of that kind a project needs before an export.</summary>
    public int MinCount { get; init; } = 50;
    public double CooldownMinutes { get; init; } = 24 * 60;
    public double CheckSeconds { get; init; } = 60;

    public static FeedbackExportOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<FeedbackExportOptions>() ?? new FeedbackExportOptions();
}

public sealed class FeedbackExporter(RunRegistry registry, IArtifactStore store, RecordingOptions recording,
    FeedbackExportOptions options, ILogger<FeedbackExporter> log, TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Exports what is due now; returns the keys written.</summary>
    public async Task<IReadOnlyList<string>> ExportDueAsync(CancellationToken ct)
    {
        var written = new List<string>();
        var projects = await registry.ReadAsync(s => s.ListFeedbackProjectsAsync(ct), ct);
        foreach (var project in projects.Where(p => recording.Projects.Contains("*")
            || recording.Projects.Contains(p)))
            if (await ExportAsync(project, options.MinCount, ct) is { } key)
                written.Add(key);
        return written;
    }

    /// <summary>Exports <paramref name="project"/>'s new feedback when it makes at least <paramref name="minCount"/>
    /// examples and the cool-down allows (an alert asks with 1); returns the key written, or null.</summary>
    public async Task<string?> ExportAsync(string project, int minCount, CancellationToken ct)
    {
        var (all, requests) = await registry.ReadAsync(async s =>
            (await s.ListFeedbackAsync(project, ct: ct), await s.ListServedRequestsAsync(project, ct)), ct);
        if (all.Count == 0 || all.Max(f => f.ExportedAt) is { } last && _time.GetUtcNow() - last <
            TimeSpan.FromMinutes(options.CooldownMinutes))
            return null;
        var data = FeedbackExport.Build([.. all.Where(f => f.ExportedAt is null)], requests);
        var lines = data.Of(options.Kind);
        if (lines.Count < Math.Max(1, minCount))
            return null;
        var kind = options.Kind.ToString().ToLowerInvariant();
        var key = $"{project}/feedback-{_time.GetUtcNow():yyyyMMdd-HHmmss}-{kind}.jsonl";
        // marked first: a crash between the two leaves feedback marked with a key that never arrived (visible in
        // `finetune feedback`), never the same feedback trained on twice
        await registry.WriteAsync(s => s.MarkFeedbackExportedAsync(data.FeedbackIds, key, ct), ct);
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        await store.PutStreamAsync(Buckets.Ingestion, key, content, ct);
        log.LogInformation("Exported {Count} {Kind} examples of {Project}'s feedback to {Key}", lines.Count, kind,
            project, key);
        return key;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.Enabled
        ? Periodic.RunAsync(TimeSpan.FromSeconds(Math.Max(1, options.CheckSeconds)), _time, ExportDueAsync, log,
            "Exporting feedback", stoppingToken)
        : Task.CompletedTask;
}
