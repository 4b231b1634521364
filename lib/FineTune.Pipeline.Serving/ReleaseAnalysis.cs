// Decides the running canary and shadow releases on the live numbers this endpoint has seen (ReleaseVerdict), every
// ReleaseCheckSeconds: promoted — production → the candidate; rolled back — production unchanged. Either way the
// release's alias is removed, the release row keeps the decision with its reasons and numbers (only the first
// instance to decide writes it), the run's decision and events say what happened, and serving syncs at once.
using System.Text.Json;
using FineTune.Registry;
using FineTune.Serving;
using FineTune.Serving.Releases;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

public sealed class ReleaseAnalysis(RunRegistry registry, ReleaseMonitor monitor, RegistryServing serving,
    ServingOptions options, ILogger<ReleaseAnalysis> log, TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public static string ReleaseId(string project, int version) => $"{project}@v{version}";

    /// <summary>Decides every running release that has enough traffic (or ran out of time).</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        var running = await registry.ReadAsync(s => s.ListReleasesAsync(null, runningOnly: true, ct), ct);
        foreach (var release in running)
        {
            var settings = JsonSerializer.Deserialize<ReleaseSettings>(release.SettingsJson, PipelineSettings.Json)!;
            var id = ReleaseId(release.Project, release.Version);
            var decision = ReleaseVerdict.Decide(settings, monitor.Numbers(id, Variant.Production),
                monitor.Numbers(id, Variant.Candidate), _time.GetUtcNow() - release.StartedAt);
            if (decision is null)
                continue;
            var status = decision.Promote ? "promoted" : "rolled_back";
            bool decided = await registry.WriteAsync(async s =>
            {
                if (!await s.DecideReleaseAsync(release.Project, release.Version, status, decision.Reasons,
                    decision.NumbersJson, ct))
                    return false;
                if (decision.Promote)
                    await s.SetAliasAsync(release.Project, "production", release.Version, release.RunId,
                        $"promoted by the {release.Policy} release's live analysis", ct);
                await s.RemoveAliasAsync(release.Project, release.Policy, release.RunId,
                    $"{release.Policy} release {status.Replace('_', ' ')}", ct);
                await s.SetRunDecisionAsync(release.RunId, status, decision.Reasons, release.Version, ct);
                await s.AppendEventAsync(release.RunId, decision.Promote ? "info" : "warn", "message",
                    $"{release.Policy} release of v{release.Version} {status.Replace('_', ' ')} on live traffic: " +
                    string.Join("; ", decision.Reasons), decision.NumbersJson, ct);
                return true;
            }, ct);
            if (!decided)
                continue;
            if (decision.Promote)
                log.LogInformation("{Release}: {Policy} release promoted: {Reasons}", id, release.Policy,
                    string.Join("; ", decision.Reasons));
            else
                log.LogWarning("{Release}: {Policy} release rolled back: {Reasons}", id, release.Policy,
                    string.Join("; ", decision.Reasons));
            await serving.SyncAsync(release.Project, ct);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(TimeSpan.FromSeconds(Math.Max(1, options.ReleaseCheckSeconds)), _time, CheckAsync, log,
            "Analysing the running releases", stoppingToken);
}
