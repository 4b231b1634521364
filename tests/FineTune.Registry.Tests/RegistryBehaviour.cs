// The run registry's behaviour, written once and run against each provider (SqliteRegistryTests,
// PostgresRegistryTests): migrations, sessions, the inbox, raw-object claims and run status. The other parts:
// RegistryBehaviour.*.cs.
using FineTune.Contracts;

namespace FineTune.Registry.Tests;

public abstract partial class RegistryBehaviour
{
    /// <summary>An empty database for one test (migrated unless <paramref name="migrate"/> is false).</summary>
    protected abstract Task<RegistryFixture> CreateFixtureAsync(bool migrate = true);

    protected static ArtifactRef Ref(string key, string bucket = Buckets.Datasets, long bytes = 42) =>
        new(bucket, key, new string('a', 64), bytes);

    /// <summary>A new run, started the way the pipeline starts one: by claiming a dropped object.</summary>
    protected static async Task<Guid> NewRunAsync(RunRegistry registry, string project = "demo")
    {
        var source = Ref($"{project}/{Guid.NewGuid():N}.jsonl", Buckets.Ingestion);
        var claim = await registry.WriteAsync(s => s.ClaimRawObjectAsync(project, source, "etag-1", Guid.NewGuid(),
            "upload"));
        return claim.RunId;
    }

    /// <summary>Starts <paramref name="work"/> <paramref name="count"/> times at once, each with its own registry (a
    /// process).</summary>
    protected static async Task<T[]> ConcurrentlyAsync<T>(RegistryFixture fx, int count, Func<RunRegistry, int,
        Task<T>> work)
    {
        var registries = Enumerable.Range(0, count).Select(_ => fx.Open()).ToArray();
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await go.Task;
            return await work(registries[i], i);
        })).ToArray();
        go.SetResult();
        return await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
    }

    // ---- Migrations ----

    [SkippableFact]
    public async Task Migrating_twice_changes_nothing_the_second_time()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        await fx.Registry.MigrateAsync();
        await fx.Open().MigrateAsync();

        var run = await fx.Registry.ReadAsync(s => s.GetRunAsync(runId));
        Assert.NotNull(run);
    }

    [SkippableFact]
    public async Task Four_processes_migrating_at_once_all_succeed()
    {
        await using var fx = await CreateFixtureAsync(migrate: false);

        await ConcurrentlyAsync(fx, 4, async (registry, _) =>
        {
            await registry.MigrateAsync();
            return true;
        });

        var runId = await NewRunAsync(fx.Registry);
        Assert.NotNull(await fx.Registry.ReadAsync(s => s.GetRunAsync(runId)));
    }

    // ---- Sessions ----

    [SkippableFact]
    public async Task A_session_disposed_without_commit_leaves_nothing_behind()
    {
        await using var fx = await CreateFixtureAsync();
        var messageId = Guid.NewGuid();
        Guid runId;
        await using (var s = await fx.Registry.BeginAsync())
        {
            Assert.True(await s.TryMarkProcessedAsync("ingestion", messageId));
            runId = (await s.ClaimRawObjectAsync("demo", Ref("demo/a.jsonl", Buckets.Ingestion), "e1", Guid.NewGuid(),
                "upload")).RunId;
            await s.AppendEventAsync(runId, "info", "message", "started");
        }

        Assert.Null(await fx.Registry.ReadAsync(s => s.GetRunAsync(runId)));
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListRawObjectsAsync("demo")));
        Assert.True(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("ingestion", messageId)));
    }

    [SkippableFact]
    public async Task An_exception_inside_WriteAsync_rolls_back()
    {
        await using var fx = await CreateFixtureAsync();
        var messageId = Guid.NewGuid();

        await Assert.ThrowsAsync<InvalidOperationException>(() => fx.Registry.WriteAsync(async s =>
        {
            await s.TryMarkProcessedAsync("tokenization", messageId);
            throw new InvalidOperationException("stage failed");
        }));

        Assert.True(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("tokenization", messageId)));
    }

    [SkippableFact]
    public async Task A_callback_may_commit_inside_ReadAsync()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        var changed = await fx.Registry.ReadAsync(async s =>
        {
            var ok = await s.SetRunStatusAsync(runId, RunStatus.Running);
            await s.CommitAsync();
            return ok;
        });

        Assert.True(changed);
        Assert.Equal(RunStatus.Running, (await fx.Registry.ReadAsync(s => s.GetRunAsync(runId)))!.Status);
    }

    // ---- Inbox ----

    [SkippableFact]
    public async Task The_inbox_accepts_a_message_once_per_consumer()
    {
        await using var fx = await CreateFixtureAsync();
        var messageId = Guid.NewGuid();

        Assert.True(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("ingestion", messageId)));
        Assert.False(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("ingestion", messageId)));
        Assert.True(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("tokenization", messageId)));
        Assert.True(await fx.Registry.WriteAsync(s => s.TryMarkProcessedAsync("ingestion", Guid.NewGuid())));
    }

    // ---- Raw objects and runs ----

    [SkippableFact]
    public async Task Claiming_an_object_again_returns_the_run_it_started()
    {
        await using var fx = await CreateFixtureAsync();
        var source = Ref("demo/chat.jsonl", Buckets.Ingestion, bytes: 1234);
        var proposed = Guid.NewGuid();

        var first = await fx.Registry.WriteAsync(s => s.ClaimRawObjectAsync("demo", source, "etag-1", proposed,
            "upload"));
        var again = await fx.Registry.WriteAsync(s => s.ClaimRawObjectAsync("demo", source, "etag-1", Guid.NewGuid(),
            "upload"));
        var changed = await fx.Registry.WriteAsync(s => s.ClaimRawObjectAsync("demo", source, "etag-2", Guid.NewGuid(),
            "upload"));

        Assert.Equal(new RawObjectClaim(proposed, IsNew: true), first);
        Assert.Equal(new RawObjectClaim(proposed, IsNew: false), again);
        Assert.True(changed.IsNew);
        Assert.NotEqual(proposed, changed.RunId);
        var run = (await fx.Registry.ReadAsync(s => s.GetRunAsync(proposed)))!;
        Assert.Equal(("demo", RunStatus.ValidatingFiles, "upload", Buckets.Ingestion, "demo/chat.jsonl"),
            (run.Project, run.Status, run.Trigger, run.SourceBucket, run.SourceKey));
        Assert.Equal(RegistryFixture.Start, run.CreatedAt);
        Assert.Equal(TimeSpan.Zero, run.CreatedAt.Offset);
        Assert.Null(run.FinishedAt);
        Assert.Empty(run.Reasons);
        var objects = await fx.Registry.ReadAsync(s => s.ListRawObjectsAsync("demo"));
        Assert.Equal(2, objects.Count);
        Assert.Contains(new RawObjectRecord("demo", Buckets.Ingestion, "demo/chat.jsonl", "etag-1", source.Sha256,
            1234, proposed,
            RegistryFixture.Start), objects);
    }

    [SkippableFact]
    public async Task Eight_concurrent_claims_of_one_object_share_one_run()
    {
        await using var fx = await CreateFixtureAsync();
        var source = Ref("demo/chat.jsonl", Buckets.Ingestion);

        var claims = await ConcurrentlyAsync(fx, 8, (registry, _) =>
            registry.WriteAsync(s => s.ClaimRawObjectAsync("demo", source, "etag-1", Guid.NewGuid(), "upload")));

        Assert.Single(claims.Select(c => c.RunId).Distinct());
        Assert.Single(claims, c => c.IsNew);
        Assert.Single(await fx.Registry.ReadAsync(s => s.ListRunsAsync("demo")));
    }

    [SkippableFact]
    public async Task A_terminal_run_status_is_final()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        Assert.True(await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(runId, RunStatus.Running)));
        fx.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(runId, RunStatus.Cancelled, "user asked")));
        fx.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(runId, RunStatus.Succeeded)));
        Assert.False(await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(runId, RunStatus.Running)));
        Assert.False(await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(Guid.NewGuid(), RunStatus.Running)));

        var run = (await fx.Registry.ReadAsync(s => s.GetRunAsync(runId)))!;
        Assert.Equal((RunStatus.Cancelled, "user asked"), (run.Status, run.Error));
        Assert.Equal(RegistryFixture.Start.AddMinutes(5), run.FinishedAt);
        Assert.Equal(RegistryFixture.Start.AddMinutes(5), run.UpdatedAt);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Registry.WriteAsync(s =>
            s.SetRunStatusAsync(runId, "done")));
        Assert.Contains("succeeded", e.Message);
    }

    [SkippableFact]
    public async Task A_run_decision_keeps_its_reasons_and_model_version()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        string[] reasons = ["rouge_l 0.41 >= baseline 0.39", "judge win rate 0.62 \"ok\""];

        await fx.Registry.WriteAsync(s => s.SetRunDecisionAsync(runId, "promoted", reasons, 3));

        var run = (await fx.Registry.ReadAsync(s => s.GetRunAsync(runId)))!;
        Assert.Equal(("promoted", 3), (run.Decision, run.ModelVersion));
        Assert.Equal(reasons, run.Reasons);
    }

    [SkippableFact]
    public async Task Runs_list_newest_first_per_project_up_to_the_limit()
    {
        await using var fx = await CreateFixtureAsync();
        var first = await NewRunAsync(fx.Registry, "demo");
        fx.Clock.Advance(TimeSpan.FromSeconds(1));
        var second = await NewRunAsync(fx.Registry, "demo");
        fx.Clock.Advance(TimeSpan.FromSeconds(1));
        var other = await NewRunAsync(fx.Registry, "other");

        Assert.Equal([second, first], (await fx.Registry.ReadAsync(s => s.ListRunsAsync("demo"))).Select(r => r.RunId));
        Assert.Equal([other, second],
            (await fx.Registry.ReadAsync(s => s.ListRunsAsync(limit: 2))).Select(r => r.RunId));
    }

    [SkippableFact]
    public async Task Projects_list_their_runs_active_runs_and_newest_start_most_recent_first()
    {
        await using var fx = await CreateFixtureAsync();
        var first = await NewRunAsync(fx.Registry, "demo");
        fx.Clock.Advance(TimeSpan.FromSeconds(1));
        await NewRunAsync(fx.Registry, "other");
        fx.Clock.Advance(TimeSpan.FromSeconds(1));
        await NewRunAsync(fx.Registry, "demo");
        await fx.Registry.WriteAsync(s => s.SetRunStatusAsync(first, RunStatus.Failed, "broken"));

        var projects = await fx.Registry.ReadAsync(s => s.ListProjectsAsync());
        Assert.Equal([("demo", 2, 1, RegistryFixture.Start.AddSeconds(2)), ("other", 1, 1, RegistryFixture.Start
            .AddSeconds(1))], projects.Select(p => (p.Project, p.Runs, p.Active, p.LastRunAt)));
        Assert.Equal(["demo"],
            (await fx.Registry.ReadAsync(s => s.ListProjectsAsync(limit: 1))).Select(p => p.Project));
    }
}
