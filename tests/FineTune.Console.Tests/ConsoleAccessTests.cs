// What a console key may see and do, without a browser: keys for every project or for one, the role a key gets when
// it is named more than once, the cookie's claims carrying exactly that, and the console's views (runs, projects,
// registry) showing a key only its projects over a real registry.
using System.Security.Claims;
using FineTune.Contracts;
using FineTune.Pipeline;
using FineTune.Registry;

namespace FineTune.Console.Tests;

public sealed class ConsoleAccessTests
{
    static readonly ConsoleOptions Options = new()
    {
        Keys = ["everything-viewer"],
        AdminKeys = ["everything-admin"],
        Projects = new Dictionary<string, ConsoleProjectKeys>
        {
            ["tickets"] = new() { Keys = ["both"], AdminKeys = ["tickets-admin"] },
            ["faq"] = new() { Keys = ["faq-viewer"], AdminKeys = ["both", "sha256:" + ConsoleKeys.Hash("faq-hashed")] },
        },
    };

    [Fact]
    public void A_key_sees_and_acts_on_the_projects_its_entries_name_and_nothing_else()
    {
        var keys = new ConsoleKeys(Options);
        var admin = keys.Check("everything-admin")!;
        Assert.True(admin.CanView("anything") && admin.CanAdmin("anything") && admin.IsAdmin);
        Assert.Null(admin.Visible);
        var viewer = keys.Check("everything-viewer")!;
        Assert.True(viewer.CanView("tickets"));
        Assert.False(viewer.CanAdmin("tickets") || viewer.IsAdmin);

        var both = keys.Check("both")!;                     // viewer of tickets, admin of faq
        Assert.Equal(["faq", "tickets"], both.Visible);
        Assert.True(both.CanView("tickets") && !both.CanAdmin("tickets") && both.CanAdmin("faq") && both.IsAdmin);
        Assert.False(both.CanView("other"));
        var faq = keys.Check("faq-viewer")!;
        Assert.True(faq.CanView("faq") && !faq.CanView("tickets") && !faq.IsAdmin);
        Assert.True(keys.Check(" faq-hashed ")!.CanAdmin("faq"));
        Assert.Equal(faq.Name, keys.Check("faq-viewer")!.Name);
        Assert.DoesNotContain("faq-viewer", faq.Name);

        Assert.Null(keys.Check("tickets"));
        Assert.Null(keys.Check(""));
        Assert.Null(keys.Check(new string('k', 513)));
    }

    [Fact]
    public void A_project_key_under_a_bad_name_or_a_malformed_hash_stops_the_console_at_start()
    {
        Assert.Contains("Console:Projects", Assert.Throws<ArgumentException>(() => new ConsoleKeys(new ConsoleOptions
        {
            Projects = new Dictionary<string, ConsoleProjectKeys> { ["../etc"] = new() { Keys = ["k"] } },
        })).Message);
        Assert.Contains("64 hex digits", Assert.Throws<ArgumentException>(() => new ConsoleKeys(new ConsoleOptions
        {
            AdminKeys = ["sha256:abc"],
        })).Message);
    }

    [Fact]
    public void The_cookie_carries_the_access_the_key_has()
    {
        var keys = new ConsoleKeys(Options);
        foreach (var key in new[] { "everything-admin", "everything-viewer", "both", "faq-viewer" })
        {
            var access = keys.Check(key)!;
            var signedIn = ConsoleAccess.From(new ClaimsPrincipal(access.Identity("cookie")));
            Assert.Equal((access.Name, access.All), (signedIn.Name, signedIn.All));
            Assert.Equal(access.Projects.OrderBy(p => p.Key), signedIn.Projects.OrderBy(p => p.Key));
            Assert.Equal(access.IsAdmin, new ClaimsPrincipal(access.Identity("cookie")).IsInRole("Admin"));
        }
        var nobody = ConsoleAccess.From(new ClaimsPrincipal());
        Assert.False(nobody.CanView("tickets"));
        Assert.Empty(nobody.Visible!);
    }

    [Theory]
    [InlineData("tickets", "tickets")]
    [InlineData("tickets:v2", "tickets")]
    [InlineData("tickets:canary", "tickets")]
    [InlineData("support.v1_b:production", "support.v1_b")]
    public void A_served_model_belongs_to_the_project_it_is_named_after(string model, string project) =>
        Assert.Equal(project, ConsoleAccess.ProjectOf(model));

    [Fact]
    public async Task The_views_show_a_key_only_the_runs_projects_and_versions_of_its_projects()
    {
        using var tmp = new TempDir();
        await using var registry = RunRegistry.Create(new RegistryOptions("sqlite",
            $"Data Source={Path.Combine(tmp.Path, "registry.db")}"));
        await registry.MigrateAsync();
        var store = new ArtifactStoreOptions { LocalDirectory = Path.Combine(tmp.Path, "artifacts") }.Create();
        var runs = new Dictionary<string, Guid>();
        foreach (var project in new[] { "tickets", "faq", "secret" })
        {
            var source = new ArtifactRef(Buckets.Ingestion, $"{project}/data.jsonl", new string('0', 64), 1);
            var claim = await registry.WriteAsync(s => s.ClaimRawObjectAsync(project, source, "etag", Guid.NewGuid(),
                "upload"));
            runs[project] = claim.RunId;
            var model = new ArtifactRef(Buckets.Models, $"{project}/model", new string('1', 64), 1);
            await registry.WriteAsync(s => s.CreateModelVersionAsync(project, claim.RunId, model, model, "lora"));
            await registry.WriteAsync(s => s.SetAliasAsync(project, "production", 1, claim.RunId, "first"));
        }
        var data = new ConsoleData(registry, store);
        var keys = new ConsoleKeys(Options);
        var both = keys.Check("both")!;

        Assert.Equal(["faq", "tickets"], (await data.RunsAsync(null, 100, both, default)).Select(r => r.Run.Project)
            .Order());
        Assert.Empty(await data.RunsAsync("secret", 100, both, default));
        Assert.Equal([runs["tickets"]], (await data.RunsAsync("tickets", 100, both, default)).Select(r => r.Run.RunId));
        var projects = await data.ProjectsAsync(both, default);
        Assert.Equal([("faq", true, 1), ("tickets", false, 1)], projects.OrderBy(p => p.Project.Project)
            .Select(p => (p.Project.Project, p.Admin, p.Production ?? 0)));
        var registryView = await data.RegistryAsync(null, both, default);
        Assert.Equal(["faq", "tickets"], registryView.Versions.Select(v => v.Version.Project).Order());
        Assert.DoesNotContain(registryView.History, h => h.Project == "secret");
        Assert.Empty((await data.RegistryAsync("secret", both, default)).Versions);

        var admin = keys.Check("everything-admin")!;
        Assert.Equal(3, (await data.RunsAsync(null, 100, admin, default)).Count);
        Assert.Equal(3, (await data.ProjectsAsync(admin, default)).Count);
        Assert.Equal(2, (await data.RunsAsync(null, 2, admin, default)).Count);
    }

    [Fact]
    public async Task A_run_that_trains_shows_its_newest_step_until_it_ends()
    {
        using var tmp = new TempDir();
        await using var registry = RunRegistry.Create(new RegistryOptions("sqlite",
            $"Data Source={Path.Combine(tmp.Path, "registry.db")}"));
        await registry.MigrateAsync();
        var data = new ConsoleData(registry, new ArtifactStoreOptions
        {
            LocalDirectory = Path.Combine(tmp.Path, "artifacts"),
        }.Create());
        var source = new ArtifactRef(Buckets.Ingestion, "tickets/data.jsonl", new string('0', 64), 1);
        var run = (await registry.WriteAsync(s => s.ClaimRawObjectAsync("tickets", source, "etag", Guid.NewGuid(),
            "upload"))).RunId;
        var everything = new ConsoleKeys(Options).Check("everything-viewer")!;
        Assert.Equal((null, null), Progress(await data.RunsAsync(null, 10, everything, default)));

        for (int step = 10; step <= 30; step += 10)
            await registry.WriteAsync(s => s.AppendEventAsync(run, "info", "metrics", $"step {step}",
                $$"""{"step":{{step}},"total_steps":200,"train_loss":1.5}"""));
        await registry.WriteAsync(s => s.AppendEventAsync(run, "info", "message", "a message"));
        Assert.Equal((30, 200), Progress(await data.RunsAsync(null, 10, everything, default)));
        await registry.WriteAsync(s => s.AppendEventAsync(run, "info", "metrics", "step 40",
            """{"step":40,"total_steps":200}"""));
        Assert.Equal((40, 200), Progress(await data.RunsAsync(null, 10, everything, default)));   // only news read

        await registry.WriteAsync(s => s.SetRunStatusAsync(run, RunStatus.Failed, "stopped"));
        Assert.Equal((null, null), Progress(await data.RunsAsync(null, 10, everything, default)));
    }

    static (int?, int?) Progress(IReadOnlyList<RunRow> rows) => (Assert.Single(rows).Step, rows[0].Steps);

    [Fact]
    public void A_dpo_runs_reward_numbers_and_a_grpo_runs_kl_become_their_charts_series()
    {
        var series = new TrainingSeries();
        var at = DateTimeOffset.UnixEpoch;
        series.Add(
        [
            new RunEventRecord(1, Guid.Empty, at, "info", "metrics", "step 1", """
                {"step":1,"train_loss":0.69,"reward_chosen":0.02,"reward_rejected":-0.01,"reward_margin":0.03}
                """),
            new RunEventRecord(2, Guid.Empty, at, "info", "metrics", "step 2", """
                {"step":2,"full_valid_loss":0.6,"valid_reward_margin":0.05,"kl":null}
                """),
            new RunEventRecord(3, Guid.Empty, at, "info", "message", "step 3", """{"step":3,"reward":9}"""),
            new RunEventRecord(4, Guid.Empty, at, "info", "metrics", "step 4", """{"step":4,"reward":0.5,"kl":0.1}"""),
        ]);
        Assert.Equal([(1, 0.02)], series.Of("reward_chosen"));
        Assert.Equal([(1, 0.03)], series.Of("reward_margin"));
        Assert.Equal([(2, 0.05)], series.Of("valid_reward_margin"));
        Assert.Equal([(4, 0.5)], series.Of("reward"));           // only metrics events count
        Assert.Equal([(4, 0.1)], series.Of("kl"));
        var charts = TrainingSeries.Charts.ToDictionary(c => c.Id);
        Assert.Contains(("margin", "reward_margin"), charts["reward"].Series);
        Assert.Contains(("kl", "kl"), charts["kl"].Series);
    }
}
