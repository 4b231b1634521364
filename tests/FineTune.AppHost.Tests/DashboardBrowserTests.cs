// Two drops at once, one training job on each replica, each run once; then the Aspire dashboard in a real browser
// (Debian's chromium driven by Playwright): the Resources page lists the infrastructure and the five services (two
// training replicas) as running, a run's trace holds spans from all five services, and the Metrics page charts the
// training loss of the replica that trained it.
// Screenshots go to TestResults/ beside the .trx, where a person can open them.
using System.Text.RegularExpressions;
using FineTune.Contracts;
using FineTune.Pipeline.Tests;
using FineTune.Pipeline.Training;
using FineTune.Registry;
using Microsoft.Playwright;

namespace FineTune.AppHost.Tests;

[Collection(AppHostCollection.Name)]
public sealed class DashboardBrowserTests(AppHostFixture f)
{
    const string Chromium = "/usr/bin/chromium";
    static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "TestResults");

    [SkippableFact]
    public async Task Two_drops_train_on_both_replicas_and_the_dashboard_shows_resources_trace_and_loss()
    {
        f.SkipWhenUnavailable();
        Skip.IfNot(File.Exists(Chromium),
            $"{Chromium} not found: scripts/setup-test-env.sh installs Debian's chromium (apt-get install chromium), " +
            "which Playwright drives");
        // Two drops at once: the two training replicas take one job each, and each job runs once.
        using var tmp = new TempDir();
        var projects = new[] { $"dash-{Guid.NewGuid():N}"[..14], $"dash-{Guid.NewGuid():N}"[..14] };
        await f.Store.EnsureBucketsAsync([Buckets.Ingestion]);
        for (var i = 0; i < projects.Length; i++)
        {
            var file = await PipelineFixture.TicketsAsync(tmp.Path, 60, 21 + i);
            await f.Store.PutFileAsync(Buckets.Ingestion, $"{projects[i]}/{Path.GetFileName(file)}", file);
        }
        var runs = new List<RunRecord>();
        foreach (var p in projects)
            runs.Add(await f.WaitForRunAsync(p, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(5)));
        Assert.All(runs, r => Assert.True(r.Status == RunStatus.Succeeded, $"{r.Status}: {r.Error}"));
        var jobs = await f.Registry.ReadAsync(async s => new[]
        {
            (await s.GetTrainingJobAsync(runs[0].RunId))!, (await s.GetTrainingJobAsync(runs[1].RunId))!
        });
        Assert.All(jobs, j => Assert.Equal(1, j.Attempts));
        Assert.NotEqual(jobs[0].WorkerId, jobs[1].WorkerId);
        foreach (var p in projects)
            Assert.Single(await f.Registry.ReadAsync(s => s.ListModelVersionsAsync(p)));
        var job = jobs[0];
        var traceId = TrainingJobRequest.Parse(job.RequestJson).TraceParent!.Split('-')[1];
        var replica = await f.ReplicaOfWorkerAsync(job.WorkerId!);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Args = ["--no-sandbox"]
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1600, Height = 1000 } });
        Directory.CreateDirectory(Screenshots);

        // Resources: every resource by name, each running; the two training replicas by their own names.
        var resources = await TextWhenAsync(page, "/", text =>
            AppHostFixture.Infrastructure.Concat(AppHostFixture.Services).All(text.Contains)
            && Regex.Matches(text, @"\btraining-[a-z0-9]+").Select(m => m.Value).Distinct().Count() == 2
            && Regex.Matches(text, @"\bRunning\b").Count >= 9);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-resources.png") });
        Assert.DoesNotContain("Unhealthy", resources);

        // The run's trace has spans from all five services: the Traces page, filtered to each service (the training
        // replica that trained it), lists it. (Its last spans arrive a second or two after the run ends: telemetry
        // is exported in batches.)
        foreach (var service in AppHostFixture.Services)
        {
            await TextWhenAsync(page, $"/traces/resource/{(service == "training" ? replica : service)}",
                text => text.Contains(traceId[..7]));
        }
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-traces.png") });
        await TextWhenAsync(page, $"/traces/detail/{traceId}", text => text.Contains("Total spans"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-trace.png") });

        // The training loss of the replica that trained it, charted; the chart's table view lists the values.
        var metrics = $"/metrics/resource/{replica}?meter=FineTune.Training&instrument=finetune.training.train_loss" +
            "&duration=15";
        await TextWhenAsync(page, metrics, text => text.Contains("finetune.training.train_loss"));
        await Task.Delay(2000);   // the chart draws after the page loads
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-metrics.png") });
        await TextWhenAsync(page, metrics + "&view=Table", text => Regex.IsMatch(text, @"(?<![\d.:])\d\.\d{3,}"));
    }

    // Opens the page (the dashboard is Blazor Server: its content arrives over a WebSocket after load) and reloads
    // until its text satisfies the condition, for up to a minute; then fails with the text seen.
    async Task<string> TextWhenAsync(IPage page, string path, Func<string, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        var text = "";
        while (DateTime.UtcNow < deadline)
        {
            await page.GotoAsync(new Uri(f.Dashboard, path).ToString(),
                new() { WaitUntil = WaitUntilState.NetworkIdle });
            for (var i = 0; i < 10; i++)
            {
                text = await page.InnerTextAsync("body");
                if (condition(text))
                    return text;
                await Task.Delay(500);
            }
        }
        Assert.Fail($"{path}: the dashboard never showed what was expected; it showed:\n{text}");
        return text;
    }
}
