// The console in a real browser (Debian's chromium driven by Playwright), started as `finetune console` over a local
// pipeline home that a pipeline in this process fills: a dataset dropped through the upload page shows its validation
// report (a malformed one its problems, and no way in), enters the pipeline, its run appears on the runs page and its
// page follows the run live (the loss chart gains points while it trains, the decision appears without a reload),
// then shows the data card (records at each step, examples by length per split), sample answers of every evaluation
// step and the evaluation table with the numbers report.json holds; the projects page counts the run; an admin
// promotes and rolls back from the registry page through a confirmation and the playground, asking the Deployment
// service, shows the served version change; a viewer sees no action and a forged POST is refused; a key of another
// project sees nothing of this one; axe finds no serious or critical violation on any page. Screenshots go to
// TestResults/.
using System.Text.RegularExpressions;
using Deque.AxeCore.Playwright;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Pipeline;
using FineTune.Pipeline.Runs;
using FineTune.Pipeline.Tests;
using FineTune.Registry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace FineTune.Console.Tests;

public sealed class ConsoleBrowserTests
{
    const string Chromium = "/usr/bin/chromium";
    const string ViewerKey = "viewer-key-for-the-console-test", AdminKey = "admin-key-for-the-console-test";
    // a key that sees one other project only
    const string OtherProjectKey = "faq-viewer-key-for-the-console-test";
    static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "TestResults");

    [SkippableFact]
    public async Task A_run_is_followed_live_its_evaluation_matches_the_report_and_the_registry_acts_for_admins_only()
    {
        Skip.IfNot(File.Exists(Chromium),
            $"{Chromium} not found: scripts/setup-test-env.sh installs Debian's chromium (apt-get install chromium), " +
            "which Playwright drives");
        using var tmp = new TempDir();
        var home = Path.Combine(tmp.Path, "home");
        var baseModel = await PipelineFixture.BaseModelAsync();
        // the pipeline watches its ingestion bucket, as the services do, with the test's base model and fast settings
        var settingsFile = Path.Combine(tmp.Path, "settings.json");
        // four epochs, not the fixture's two: training lasts several of the page's refreshes
        await File.WriteAllTextAsync(settingsFile, PipelineFixture.FastSettings(epochs: 4).ToJson());
        var host = PipelineFixture.FastHost();
        (host["Pipeline:WatchIngestionBucket"], host["Pipeline:IngestionScanSeconds"]) = ("true", "0.5");
        (host["Pipeline:BaseModelDirectory"], host["Pipeline:SettingsFile"]) = (baseModel, settingsFile);
        // The training stage waits at its config download until the run page is open: the page then sees every step
        // arrive, however fast the trainer is (with a race instead, one CI run trained all its steps before the page
        // loaded).
        var pageOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pipeline = await LocalPipeline.StartAsync(home, host, p =>
        {
            p.AddAllStages();
            p.Services.AddSingleton<IArtifactStore>(sp => new HeldStore(
                sp.GetRequiredService<IOptions<ArtifactStoreOptions>>().Value.Create(), "/training_config.json",
                pageOpen.Task));
        });
        using var releaseOnExit = new ReleaseOnExit(pageOpen);
        // the Deployment service serves the home's registry; the console's playground asks it
        const string ServingKey = "serving-key-for-the-console-test";
        await using var deployment = await ConsoleProcess.StartDeploymentAsync(home, ServingKey);
        await using var console = await ConsoleProcess.StartAsync(home, ViewerKey, AdminKey,
            extra: new Dictionary<string, string>
            {
                ["FINETUNE_API_KEY"] = ServingKey, ["Console__Projects__faq__Keys__0"] = OtherProjectKey,
            }, arguments: ["--serving-url", deployment.Address.ToString()]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        Directory.CreateDirectory(Screenshots);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Args = ["--no-sandbox"]
        });
        var admin = await SignInAsync(browser, console, AdminKey);
        var browserLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        admin.Console += (_, m) => browserLog.Enqueue($"{m.Type}: {m.Text}");
        await NoSeriousViolationsAsync(admin, "runs (empty)");

        // A malformed file is checked and refused: its problems by code, no way into the pipeline.
        await admin.GotoAsync(new Uri(console.Address, "upload").ToString());
        await NoSeriousViolationsAsync(admin, "upload");
        await admin.FillAsync("#project", "tickets");
        await admin.SetInputFilesAsync("#file", PipelineFixture.Malformed(tmp.Path));
        await admin.ClickAsync("#check");
        await Expect(admin.Locator("#verdict")).ToContainTextAsync("failed");
        await Expect(admin.Locator("#problems")).ToContainTextAsync("line 1");
        Assert.Equal(0, await admin.Locator("#submit").CountAsync());

        // The tickets (and two broken lines, few enough to pass) go in on the person's word, and their run appears on
        // the runs page by itself.
        var tickets = await PipelineFixture.TicketsAsync(tmp.Path, 160, 1);
        await File.AppendAllLinesAsync(tickets, ["not json at all", "{\"messages\": 7}"]);
        await admin.GotoAsync(new Uri(console.Address, "upload").ToString());
        await admin.FillAsync("#project", "tickets");
        await admin.SetInputFilesAsync("#file", tickets);
        await admin.ClickAsync("#check");
        await Expect(admin.Locator("#records")).ToHaveTextAsync("162");
        Assert.Equal("2", await admin.Locator("#rejected").InnerTextAsync());
        await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-upload-report.png") });
        await NoSeriousViolationsAsync(admin, "validation report");
        Assert.Empty(await pipeline.Registry.ReadAsync(s => s.ListRunsAsync("tickets")));   // not before submit
        await admin.ClickAsync("#submit");
        await Expect(admin.Locator("[role=status]")).ToContainTextAsync("Submitted tickets/tickets-1.jsonl");
        await Expect(admin.Locator("table[aria-label='Runs']")).ToContainTextAsync("tickets",
            new() { Timeout = 30_000 });
        var runId = (await pipeline.Registry.ReadAsync(s => s.ListRunsAsync("tickets"))).Single().RunId;
        await admin.ClickAsync($"a[href='/runs/{runId}']");
        await Expect(admin.Locator("#stages")).ToContainTextAsync("training", new() { Timeout = 30_000 });
        Assert.Equal(RunStatus.Running, (await pipeline.Registry.ReadAsync(s => s.GetRunAsync(runId)))!.Status);
        pageOpen.TrySetResult();
        var caption = admin.Locator("#chart-loss-caption");
        var seen = new List<int>();
        while (!RunStatus.IsTerminal((await pipeline.Registry.ReadAsync(s => s.GetRunAsync(runId)))!.Status))
        {
            timeout.Token.ThrowIfCancellationRequested();
            if (await caption.CountAsync() > 0
                && Regex.Match(await caption.InnerTextAsync(), @"train: (\d+) points") is { Success: true } m)
                seen.Add(int.Parse(m.Groups[1].Value));
            await Task.Delay(300, timeout.Token);
        }
        if (!(seen.Distinct().Count() >= 2 && seen[^1] > seen[0]))
        {
            await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-run-failed.png") });
            Assert.Fail($"the loss chart did not gain points while the run trained: {string.Join(", ", seen)}\n" +
                $"{await admin.InnerTextAsync("body")}\n{string.Join("\n", browserLog)}\n{console.Output}");
        }
        var run = (await pipeline.Registry.ReadAsync(s => s.GetRunAsync(runId)))!;
        Assert.Equal(RunStatus.Succeeded, run.Status);
        await Expect(admin.Locator("#evaluation")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Expect(admin.Locator("dl.console-facts")).ToContainTextAsync(run.Decision!);
        var drawn = await admin.EvaluateAsync<int>("() => document.getElementById('chart-loss').data[0].x.length");
        Assert.True(drawn >= seen[^1], $"plotly holds {drawn} points, the caption said {seen[^1]}");

        var report = await RunReport.WriteAsync(pipeline.Registry, pipeline.Store, runId,
            Path.Combine(tmp.Path, "out"), timeout.Token);

        // The data card as pictures with their numbers: 162 records read, 160 valid, the splits it made; the two
        // rejected lines by problem, with their line numbers.
        var card = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(tmp.Path, "out",
            "data_card.json"))).RootElement.GetProperty("counts");
        foreach (var (step, count) in new[] { ("read", 162), ("valid", 160), ("train", card.GetProperty("train")
            .GetInt32()), ("test", card.GetProperty("test").GetInt32()) })
            Assert.Equal(count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                await admin.Locator($"#data-funnel tr[data-category='{step}'] td").InnerTextAsync());
        await Expect(admin.Locator("#data-rejects-examples")).ToContainTextAsync("line 161");
        await Expect(admin.Locator("#data-rejects-examples")).ToContainTextAsync("line 162");
        await Expect(admin.Locator("#data-tokens")).ToContainTextAsync("train");
        // ... and each split's examples by length in tokens, adding up to what tokenization kept
        var trainExamples = long.Parse(await admin.Locator("#data-tokens tr:has(th:text-is('train')) td").First
            .InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture);
        var lengths = await admin.Locator("#data-lengths-train tr[data-category] td").AllInnerTextsAsync();
        Assert.True(lengths.Count >= 2, $"{lengths.Count} length buckets");
        Assert.Equal(trainExamples, lengths.Sum(n => long.Parse(n, System.Globalization.NumberStyles.AllowThousands,
            System.Globalization.CultureInfo.InvariantCulture)));

        // Sample answers at every evaluation step: the newest shown, an earlier one on request.
        var newest = await admin.Locator("#samples").GetAttributeAsync("data-step");
        var steps = await admin.Locator("#sample-step option").EvaluateAllAsync<string[]>(
            "options => options.map(o => o.value).filter(v => v !== '')");
        Assert.True(steps.Length >= 2 && steps[^1] == newest,
            $"sample steps {string.Join(", ", steps)}, shown {newest}");
        await admin.SelectOptionAsync("#sample-step", steps[0]);
        await Expect(admin.Locator("#samples")).ToHaveAttributeAsync("data-step", steps[0]);
        await Expect(admin.Locator("#samples-title")).ToHaveTextAsync($"Sample answers at step {steps[0]}");

        // The evaluation table holds report.json's numbers (four decimals), and the gate's reasons.
        foreach (var side in new[] { "candidate", "baseline" })
            foreach (var (metric, value) in report.Metrics[side])
                Assert.Equal(value.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture),
                    await admin.Locator($"#evaluation tr[data-metric='{metric}'] td[data-value='{side}']")
                        .InnerTextAsync());
        foreach (var reason in report.Reasons)
            await Expect(admin.Locator("#reasons")).ToContainTextAsync(reason);
        // ... and the comparison's largest regressions, one row each
        var regressions = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(tmp.Path,
            "out", "evaluation", "comparison.json"))).RootElement.GetProperty("regressions").GetArrayLength();
        Assert.Equal(regressions, await admin.Locator("#regressions tbody tr").CountAsync());
        await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-run.png"), FullPage = true });
        await NoSeriousViolationsAsync(admin, "run");
        await admin.GotoAsync(console.Address.ToString());
        await Expect(admin.Locator("table[aria-label='Runs']")).ToContainTextAsync(runId.ToString("N")[..8]);
        await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-runs.png") });
        await NoSeriousViolationsAsync(admin, "runs");
        await admin.GotoAsync(new Uri(console.Address, "projects").ToString());
        await Expect(admin.Locator("#projects tr[data-project='tickets'] td").First).ToHaveTextAsync("1");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-projects.png") });
        await NoSeriousViolationsAsync(admin, "projects");

        // Two more versions that passed the gate: promote 2, then 3, then roll back to 2 — each through the
        // confirmation page, each recorded as the CLI's are.
        await AddPassingVersionsAsync(pipeline.Registry, run, 2);
        foreach (var version in new[] { 2, 3 })
        {
            await admin.GotoAsync(new Uri(console.Address, "registry?project=tickets").ToString());
            await admin.ClickAsync($"#promote-tickets-{version}");
            await Expect(admin.Locator("h1")).ToHaveTextAsync("Promote to production");
            await NoSeriousViolationsAsync(admin, "confirm");
            await admin.ClickAsync("#confirm");
            await Expect(admin.Locator("[role=status]"))
                .ToHaveTextAsync($"tickets version {version} is in production.");
            Assert.Equal(version, await Production(pipeline.Registry));
        }
        await admin.ScreenshotAsync(new()
        {
            Path = Path.Combine(Screenshots, "console-registry.png"), FullPage = true
        });
        await NoSeriousViolationsAsync(admin, "registry");
        // The playground asks the Deployment service: "tickets" is answered by version 3, v1 beside it by version 1.
        Assert.Equal(["tickets@v3", "tickets@v1"], await PlaygroundAsync(admin, "tickets@v3", "tickets:v1"));
        await admin.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-playground.png") });
        await NoSeriousViolationsAsync(admin, "playground");

        await admin.GotoAsync(new Uri(console.Address, "registry?project=tickets").ToString());
        await admin.ClickAsync("#rollback-tickets");
        await admin.ClickAsync("#confirm");
        await Expect(admin.Locator("[role=status]")).ToHaveTextAsync("tickets production rolled back to version 2.");
        Assert.Equal(2, await Production(pipeline.Registry));
        Assert.Equal(["tickets@v2"], await PlaygroundAsync(admin, "tickets@v2"));     // the served version changed
        var history = await pipeline.Registry.ReadAsync(s => s.ListDeploymentsAsync("tickets", "production"));
        Assert.Contains(history, h => h.Version == 2 && h.PreviousVersion == 3);

        // A forged POST (no anti-forgery token) with the admin's own cookie is refused and changes nothing.
        var forged = await admin.APIRequest.PostAsync(new Uri(console.Address, "actions/promote").ToString(),
            new() { Form = FormOf(admin, ("project", "tickets"), ("version", "3")) });
        Assert.Equal(400, forged.Status);
        Assert.Equal(2, await Production(pipeline.Registry));

        // A viewer sees the registry without any action, cannot open the confirmation, and its POST is forbidden.
        var viewer = await SignInAsync(browser, console, ViewerKey);
        await viewer.GotoAsync(new Uri(console.Address, "registry?project=tickets").ToString());
        await Expect(viewer.Locator("#versions")).ToContainTextAsync("tickets");
        Assert.Equal(0, await viewer.Locator("a.console-action").CountAsync());
        await viewer.GotoAsync(new Uri(console.Address, "registry/confirm?action=promote&project=tickets&version=3")
            .ToString());
        Assert.Equal(0, await viewer.Locator("#confirm").CountAsync());
        var refused = await viewer.APIRequest.PostAsync(new Uri(console.Address, "actions/rollback").ToString(),
            new() { Form = FormOf(viewer, ("project", "tickets")) });
        Assert.Equal(403, refused.Status);
        Assert.Equal(2, await Production(pipeline.Registry));

        // A key of another project sees nothing of tickets: no run, no project, no version, no served model.
        var other = await SignInAsync(browser, console, OtherProjectKey);
        Assert.Equal(0, await other.Locator("#versions").CountAsync());
        await other.GotoAsync("/");
        await Expect(other.Locator("main")).ToContainTextAsync("No runs yet");
        await other.GotoAsync($"/runs/{runId}");
        await Expect(other.Locator("main")).ToContainTextAsync("This run is not in the registry.");
        await other.GotoAsync("/projects");
        await Expect(other.Locator("main")).ToContainTextAsync("No projects this key may see");
        await other.GotoAsync("/playground");
        await Expect(other.Locator("#model-a")).ToBeVisibleAsync();
        Assert.DoesNotContain(await other.Locator("#model-a option").AllInnerTextsAsync(),
            m => m.StartsWith("tickets", StringComparison.Ordinal));
        Assert.DoesNotContain(AdminKey, await admin.ContentAsync());       // no key is ever rendered
        await admin.GotoAsync("/playground");
        Assert.DoesNotContain(ServingKey, await admin.ContentAsync());
    }

    static async Task<IPage> SignInAsync(IBrowser browser, ConsoleProcess console, string key)
    {
        var context = await browser.NewContextAsync(new()
        {
            BaseURL = console.Address.ToString(), ViewportSize = new() { Width = 1400, Height = 1000 },
        });
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(console.Address, "registry").ToString());
        Assert.EndsWith("/signin?ReturnUrl=%2Fregistry", page.Url);           // nothing without a key
        await NoSeriousViolationsAsync(page, "sign-in");
        if (key == AdminKey)
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-signin.png") });
        await page.FillAsync("#key", key);
        await page.ClickAsync("button[type=submit]");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Model registry");
        return page;
    }

    // Asks "tickets" (and modelB beside it) in the playground until "tickets" is answered by expectedFirst (the
    // Deployment service re-reads the registry every second); returns the versions shown, in order.
    static async Task<string[]> PlaygroundAsync(IPage page, string expectedFirst, string? modelB = null)
    {
        string[] versions = [];
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline;)
        {
            await page.GotoAsync("/playground");
            await page.SelectOptionAsync("#model-a", "tickets");
            if (modelB is not null)
                await page.SelectOptionAsync("#model-b", modelB);
            await page.FillAsync("#prompt", "My invoice is wrong, please help.");
            await page.ClickAsync("#send");
            await page.WaitForSelectorAsync("section.console-answer [data-version]");
            versions = [.. await page.Locator("section.console-answer [data-version]").AllInnerTextsAsync()];
            if (versions[0] == expectedFirst)
                return versions;
            await Task.Delay(500);
        }
        return versions;
    }

    static IFormData FormOf(IPage page, params (string Name, string Value)[] fields)
    {
        var form = page.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
            form.Set(name, value);
        return form;
    }

    static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    static Task<int?> Production(RunRegistry registry) =>
        registry.ReadAsync(s => s.GetAliasAsync("tickets", "production"));

    static async Task NoSeriousViolationsAsync(IPage page, string what)
    {
        var result = await page.RunAxe();
        var serious = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(serious.Count == 0, $"axe on the {what} page: " + string.Join("; ", serious.Select(v =>
            $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Html))}")));
    }

    // Versions after the run's own, from the same model, each with an evaluation that passed the gate.
    static async Task AddPassingVersionsAsync(RunRegistry registry, RunRecord run, int count)
    {
        await registry.WriteAsync(async s =>
        {
            var first = (await s.GetModelVersionAsync(run.Project, run.ModelVersion!.Value))!;
            var evaluation = (await s.GetEvaluationAsync(run.Project, first.Version))!;
            for (int i = 0; i < count; i++)
            {
                var id = Guid.NewGuid();
                await s.ClaimRawObjectAsync(run.Project, new ArtifactRef(Buckets.Ingestion,
                    $"{run.Project}/extra{i}.jsonl", new string((char)('a' + i), 64), 1), $"extra{i}", id, "drop");
                int version = await s.CreateModelVersionAsync(run.Project, id, first.Model, first.BaseModel,
                    first.Kind);
                await s.RecordEvaluationAsync(evaluation with
                {
                    Version = version,
                    RunId = id,
                    Promote = true,
                    Reasons = ["test: passed"],
                });
            }
        });
    }
}
