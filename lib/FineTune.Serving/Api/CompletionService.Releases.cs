// Requests under a progressive release. Canary: the caller's variant answers; a candidate's answer that fails (an
// error, a screened choice, an answer that is not a document of the release's output schema) is replaced by
// production's when nothing was sent yet, and counted. Shadow: production answers; the candidate answers the same
// request in the background, and its answer is counted and kept for inspection, never returned. Every answer's
// numbers go to the release monitor, which the release analysis reads.
using System.Diagnostics;
using FineTune.Serving.Engine;
using FineTune.Serving.Releases;
using FineTune.Text.Structured;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Api;

public sealed partial class CompletionService
{
    const string VariantHeader = "x-finetune-variant";
    const string ReleaseItem = "finetune.release";
    const string VariantItem = "finetune.variant";

    async Task ServeAsync(HttpContext http, Plan plan, Func<ServedModel, Plan> planFor, string? user, long started)
    {
        if (!releases.TryGet(plan.Name, out var release) || !catalog.TryResolve(release.Candidate, out var candidate))
        {
            await LoggedAsync(plan, started, () => RunAsync(http, plan, started));
            return;
        }
        var caller = user is { Length: > 0 } ? "user:" + user : "key:" + http.Request.Headers.Authorization;
        var variant = release.Mode == ReleaseMode.Canary ? ReleaseRouter.Choose(release, caller) : Variant.Production;
        http.Response.Headers[VariantHeader] = ReleaseMonitor.Name(variant);
        http.Items[ReleaseItem] = release.Id;
        http.Items[VariantItem] = ReleaseMonitor.Name(variant);
        if (variant == Variant.Production)
        {
            await ObservedAsync(release, Variant.Production,
                () => LoggedAsync(plan, started, () => RunAsync(http, plan, started)));
            if (release.Mode == ReleaseMode.Shadow)
                _ = Task.Run(() => ShadowAsync(release, () => planFor(candidate)));
            return;
        }

        long began = Stopwatch.GetTimestamp();
        Outcome? outcome = null;
        bool error = false;
        try
        {
            var canary = planFor(candidate);
            outcome = await RunAsync(http, canary, started,
                canary.Stream ? null : choices => Acceptable(release, choices.Select(c => c.Text), choices.Any(c =>
                    c.FinishReason == "content_filter")));
        }
        catch (Exception e) when (e is not OperationCanceledException && !(e is OpenAiError { Status: 429 }))
        {
            error = true;
            if (http.Response.HasStarted)
            {
                monitor.Record(release.Id, Variant.Candidate, true, Stopwatch.GetElapsedTime(began));
                throw;
            }
            logger.LogWarning("{Release}: the canary failed ({Error}); production answers instead", release.Id,
                e.Message);
        }
        var elapsed = Stopwatch.GetElapsedTime(began);
        bool? valid = outcome is null ? null : Valid(release, outcome.Texts);
        if (outcome is { Written: true })
        {
            monitor.Record(release.Id, Variant.Candidate, false, elapsed, outcome.Screened, valid);
            return;
        }
        monitor.Record(release.Id, Variant.Candidate, error, elapsed, outcome?.Screened ?? false, valid,
            fallback: true);
        http.Response.Headers[VariantHeader] = ReleaseMonitor.Name(Variant.Production);
        http.Items[VariantItem] = ReleaseMonitor.Name(Variant.Production);
        http.Response.Headers["x-finetune-fallback"] = "true";
        var fallback = planFor(catalog.TryResolve(plan.Name, out var production) ? production : plan.Model);
        await LoggedAsync(fallback, started, () => RunAsync(http, fallback, started));
    }

    // A server-side failure (or a full queue) is told to the request logs too (the live monitor's error rate).
    async Task<Outcome> LoggedAsync(Plan plan, long started, Func<Task<Outcome>> run)
    {
        try
        {
            return await run();
        }
        catch (Exception e) when (e is not OperationCanceledException
            && !(e is OpenAiError { Status: < 500 and not 429 }))
        {
            foreach (var log in _requestLogs)
                if (log.Records(plan.Model))
                    log.Failed(plan.Model, Stopwatch.GetElapsedTime(started));
            throw;
        }
    }

    async Task ObservedAsync(ServedRelease release, Variant variant, Func<Task<Outcome>> run)
    {
        long began = Stopwatch.GetTimestamp();
        try
        {
            var outcome = await run();
            monitor.Record(release.Id, variant, false, Stopwatch.GetElapsedTime(began), outcome.Screened,
                Valid(release, outcome.Texts));
        }
        catch (Exception e) when (e is not OperationCanceledException && !(e is OpenAiError { Status: < 500 }))
        {
            monitor.Record(release.Id, variant, true, Stopwatch.GetElapsedTime(began));
            throw;
        }
    }

    async Task ShadowAsync(ServedRelease release, Func<Plan> planFor)
    {
        long began = Stopwatch.GetTimestamp();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            var plan = planFor() with { Stream = false };
            var jobs = StartJobs(plan, cancel, background: true);
            var choices = await CollectAsync(plan, jobs, cancel);
            var texts = choices.Select(c => c.Text).ToList();
            monitor.Record(release.Id, Variant.Candidate, false, Stopwatch.GetElapsedTime(began),
                choices.Any(c => c.FinishReason == "content_filter"), Valid(release, texts));
            monitor.KeepShadowAnswers(release.Id, texts);
            Log(plan, "shadow-" + Guid.NewGuid().ToString("N")[..24], jobs, release.Id, "shadow", began);
        }
        catch (OpenAiError e) when (e.Status == 429)
        {
            // a full queue: the shadow gives way, production is not slowed for it
        }
        catch (Exception e)
        {
            monitor.Record(release.Id, Variant.Candidate, true, Stopwatch.GetElapsedTime(began));
            logger.LogWarning("{Release}: the shadow answer failed: {Error}", release.Id, e.Message);
        }
        finally
        {
            cancel.Cancel();
        }
    }

    static bool Acceptable(ServedRelease release, IEnumerable<string> texts, bool screened) =>
        !screened && Valid(release, [.. texts]) != false;

    /// <summary>Whether every answer is a document of the release's output schema; null when it has none.</summary>
    static bool? Valid(ServedRelease release, IReadOnlyList<string> texts) =>
        release.OutputSchema is { } schema ? texts.All(schema.IsValid) : null;
}
