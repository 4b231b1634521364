// The registry behaviour suite, part 4: the training job queue (claims, leases, cancellation) and run events.
namespace FineTune.Registry.Tests;

public abstract partial class RegistryBehaviour
{
    static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    [SkippableFact]
    public async Task A_job_is_queued_once_per_run()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        Assert.True(await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(runId, """{"recipe":"lora"}""")));
        Assert.False(await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(runId, """{"recipe":"full"}""")));

        var job = (await fx.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId)))!;
        Assert.Equal(new TrainingJobRecord(runId, "queued", """{"recipe":"lora"}""", null, null, 0, null,
            RegistryFixture.Start,
            RegistryFixture.Start), job);
    }

    [SkippableFact]
    public async Task Jobs_are_claimed_oldest_first_until_none_is_left()
    {
        await using var fx = await CreateFixtureAsync();
        var (older, newer) = (await NewRunAsync(fx.Registry), await NewRunAsync(fx.Registry));
        await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(newer, "{}"));
        fx.Clock.Advance(TimeSpan.FromSeconds(-1));
        await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(older, "{}"));

        var first = (await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w1", Lease)))!;
        var second = (await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w1", Lease)))!;

        Assert.Equal((older, "running", "w1", 1), (first.RunId, first.Status, first.WorkerId, first.Attempts));
        Assert.Equal(fx.Clock.GetUtcNow() + Lease, first.LeaseUntil);
        Assert.Equal(newer, second.RunId);
        Assert.Null(await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w2", Lease)));
    }

    [SkippableFact]
    public async Task Four_concurrent_workers_claim_each_job_once()
    {
        await using var fx = await CreateFixtureAsync();
        var runs = new List<Guid>();
        for (var i = 0; i < 12; i++)
        {
            var runId = await NewRunAsync(fx.Registry);
            await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(runId, "{}"));
            runs.Add(runId);
        }

        var claimed = await ConcurrentlyAsync(fx, 4, async (registry, worker) =>
        {
            var mine = new List<Guid>();
            while (await registry.WriteAsync(s => s.ClaimTrainingJobAsync($"w{worker}", Lease)) is { } job)
                mine.Add(job.RunId);
            return mine;
        });

        var all = claimed.SelectMany(c => c).ToList();
        Assert.Equal(runs.Order(), all.Order());
        foreach (var runId in runs)
            Assert.Equal(1, (await fx.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId)))!.Attempts);
    }

    [SkippableFact]
    public async Task An_expired_lease_lets_another_worker_take_the_job()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(runId, "{}"));
        await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w1", Lease));

        fx.Clock.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.Null(await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w2", Lease)));
        Assert.True(await fx.Registry.WriteAsync(s => s.RenewTrainingLeaseAsync(runId, "w1", Lease)));
        fx.Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var reclaimed = await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w2", Lease));

        Assert.Equal((runId, "w2", 2), (reclaimed?.RunId, reclaimed?.WorkerId, reclaimed?.Attempts));
        Assert.False(await fx.Registry.WriteAsync(s => s.RenewTrainingLeaseAsync(runId, "w1", Lease)));
        Assert.True(await fx.Registry.WriteAsync(s => s.RenewTrainingLeaseAsync(runId, "w2", Lease)));
        // The worker that lost the lease cannot end the job either.
        await fx.Registry.WriteAsync(s => s.FinishTrainingJobAsync(runId, "w1", "failed", "killed"));
        Assert.Equal("running", (await fx.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId)))!.Status);
        await fx.Registry.WriteAsync(s => s.FinishTrainingJobAsync(runId, "w2", "succeeded", null));
        var job = (await fx.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId)))!;
        Assert.Equal(("succeeded", (DateTimeOffset?)null), (job.Status, job.LeaseUntil));
        fx.Clock.Advance(Lease * 2);
        Assert.Null(await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w3", Lease)));
    }

    [SkippableFact]
    public async Task Cancelling_a_job_stops_its_lease_renewal()
    {
        await using var fx = await CreateFixtureAsync();
        var (running, queued) = (await NewRunAsync(fx.Registry), await NewRunAsync(fx.Registry));
        await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(running, "{}"));
        await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w1", Lease));
        await fx.Registry.WriteAsync(s => s.EnqueueTrainingJobAsync(queued, "{}"));

        Assert.True(await fx.Registry.WriteAsync(s => s.CancelTrainingJobAsync(running)));
        Assert.True(await fx.Registry.WriteAsync(s => s.CancelTrainingJobAsync(queued)));
        Assert.False(await fx.Registry.WriteAsync(s => s.CancelTrainingJobAsync(queued)));

        Assert.False(await fx.Registry.WriteAsync(s => s.RenewTrainingLeaseAsync(running, "w1", Lease)));
        await fx.Registry.WriteAsync(s => s.FinishTrainingJobAsync(running, "w1", "succeeded", null));
        Assert.Equal("cancelled", (await fx.Registry.ReadAsync(s => s.GetTrainingJobAsync(running)))!.Status);
        fx.Clock.Advance(Lease * 2);
        Assert.Null(await fx.Registry.WriteAsync(s => s.ClaimTrainingJobAsync("w2", Lease)));
    }

    [SkippableFact]
    public async Task Events_come_back_in_order_after_a_given_seq()
    {
        await using var fx = await CreateFixtureAsync();
        var (runId, other) = (await NewRunAsync(fx.Registry), await NewRunAsync(fx.Registry));
        for (var i = 1; i <= 5; i++)
        {
            var step = i;
            await fx.Registry.WriteAsync(async s =>
            {
                await s.AppendEventAsync(runId, "info", "metrics", $"step {step}", $$"""{"step":{{step}}}""");
                await s.AppendEventAsync(other, "warn", "message", $"other {step}");
            });
            fx.Clock.Advance(TimeSpan.FromSeconds(1));
        }

        var events = await fx.Registry.ReadAsync(s => s.ListEventsAsync(runId));
        Assert.Equal(["step 1", "step 2", "step 3", "step 4", "step 5"], events.Select(e => e.Message));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Seq < p.Second.Seq));
        Assert.Equal((runId, "info", "metrics", """{"step":1}""", RegistryFixture.Start),
            (events[0].RunId, events[0].Level, events[0].Type, events[0].DataJson, events[0].CreatedAt));
        var later = await fx.Registry.ReadAsync(s => s.ListEventsAsync(runId, afterSeq: events[2].Seq, limit: 1));
        Assert.Equal(["step 4"], later.Select(e => e.Message));
        Assert.Null((await fx.Registry.ReadAsync(s => s.ListEventsAsync(other)))[0].DataJson);
        await Assert.ThrowsAsync<ArgumentException>(() => fx.Registry.WriteAsync(s => s.AppendEventAsync(runId,
            "debug", "message", "x")));
    }
}
