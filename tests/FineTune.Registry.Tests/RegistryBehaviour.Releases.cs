// The registry behaviour suite, part 5: progressive releases (the first decision wins), removing an alias (kept in
// its history), and production feedback (answers, ratings, export marks, retention that takes the ratings along).
namespace FineTune.Registry.Tests;

public abstract partial class RegistryBehaviour
{
    [SkippableFact]
    public async Task A_release_runs_until_its_first_decision_and_an_alias_can_be_removed_with_history()
    {
        await using var fx = await CreateFixtureAsync();
        var (r1, r2) = (await NewRunAsync(fx.Registry, "a"), await NewRunAsync(fx.Registry, "a"));
        int v1 = await NewVersionAsync(fx.Registry, "a", r1), v2 = await NewVersionAsync(fx.Registry, "a", r2);
        await fx.Registry.WriteAsync(async s =>
        {
            await s.SetAliasAsync("a", "production", v1, r1, "first");
            await s.SetAliasAsync("a", "canary", v2, r2, "gate passed");
        });
        var release = new ReleaseRecord("a", v2, v1, r2, "canary", """{"canary_weight":0.2}""", "running",
            RegistryFixture.Start);
        Assert.True(await fx.Registry.WriteAsync(s => s.StartReleaseAsync(release)));
        Assert.False(await fx.Registry.WriteAsync(s => s.StartReleaseAsync(release)));   // one per version
        Assert.Equal([release], await fx.Registry.ReadAsync(s => s.ListReleasesAsync("a", runningOnly: true)));

        fx.Clock.Advance(TimeSpan.FromMinutes(30));
        Assert.True(await fx.Registry.WriteAsync(s => s.DecideReleaseAsync("a", v2, "promoted",
            ["error_rate: pass"], """{"candidate":{"requests":300}}""")));
        Assert.False(await fx.Registry.WriteAsync(s => s.DecideReleaseAsync("a", v2, "rolled_back", ["late"], "{}")));
        var decided = Assert.Single(await fx.Registry.ReadAsync(s => s.ListReleasesAsync("a")));
        Assert.Equal(("promoted", RegistryFixture.Start.AddMinutes(30)), (decided.Status, decided.DecidedAt));
        Assert.Equal(["error_rate: pass"], decided.Reasons);
        Assert.Contains("300", decided.NumbersJson);
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListReleasesAsync(null, runningOnly: true)));
        await Assert.ThrowsAsync<ArgumentException>(() => fx.Registry.WriteAsync(s =>
            s.DecideReleaseAsync("a", v2, "maybe", [], "{}")));

        Assert.Equal(v2, await fx.Registry.WriteAsync(s => s.RemoveAliasAsync("a", "canary", r2, "released")));
        Assert.Null(await fx.Registry.WriteAsync(s => s.RemoveAliasAsync("a", "canary", r2, "again")));
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetAliasAsync("a", "canary")));
        var history = await fx.Registry.ReadAsync(s => s.ListDeploymentsAsync("a", "canary"));
        Assert.Equal(["removed: released", "gate passed"], history.Select(h => h.Reason));
    }

    [SkippableFact]
    public async Task Feedback_is_kept_with_its_answer_marked_when_exported_and_deleted_with_it()
    {
        await using var fx = await CreateFixtureAsync();
        var at = RegistryFixture.Start;
        await fx.Registry.WriteAsync(async s =>
        {
            await s.RecordServedRequestsAsync(
            [
                new("chatcmpl-1", 0, "a", 2, "a@v3", "production", "chat", "[]", "yes", at),
                new("chatcmpl-1", 1, "a", 2, "a@v3", "production", "chat", "[]", "no", at),
                new("cmpl-2", 0, "b", null, null, null, "text", "\"hi\"", "there", at.AddDays(10)),
            ]);
            // recording is idempotent per (id, choice)
            await s.RecordServedRequestsAsync([new("chatcmpl-1", 0, "a", 2, null, null, "chat", "[]", "other", at)]);
        });
        var answer = await fx.Registry.ReadAsync(s => s.GetServedRequestAsync("chatcmpl-1", 0));
        Assert.Equal(("yes", "a@v3", 2), (answer!.Answer, answer.ReleaseId, answer.Version));
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetServedRequestAsync("chatcmpl-1", 2)));

        var ids = await fx.Registry.WriteAsync(async s => new[]
        {
            await s.AddFeedbackAsync(new(0, "chatcmpl-1", 0, "a", 1, "thumbs", null, null, at)),
            await s.AddFeedbackAsync(new(0, "chatcmpl-1", 1, "a", 0.25, "stars", "maybe", "meh", at)),
            await s.AddFeedbackAsync(new(0, "cmpl-2", 0, "b", 0, "thumbs", null, null, at)),
        });
        Assert.Equal(["a", "b"], await fx.Registry.ReadAsync(s => s.ListFeedbackProjectsAsync()));
        // a version's ratings, newest first, as many as asked; another version's or project's are not among them
        Assert.Equal([0.25, 1.0], await fx.Registry.ReadAsync(s => s.ListVersionRatingsAsync("a", 2, 10)));
        Assert.Equal([0.25], await fx.Registry.ReadAsync(s => s.ListVersionRatingsAsync("a", 2, 1)));
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListVersionRatingsAsync("a", 3, 10)));
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListVersionRatingsAsync("b", 2, 10)));
        await fx.Registry.WriteAsync(s => s.MarkFeedbackExportedAsync([ids[0]], "a/feedback-1-sft.jsonl"));
        var unexported = await fx.Registry.ReadAsync(s => s.ListFeedbackAsync("a", unexportedOnly: true));
        Assert.Equal((ids[1], 0.25, "maybe", "meh"), (unexported.Single().Id, unexported[0].Rating,
            unexported[0].Correction, unexported[0].Comment));
        Assert.Equal("a/feedback-1-sft.jsonl", (await fx.Registry.ReadAsync(s => s.ListFeedbackAsync("a")))[0]
            .ExportKey);

        // retention: the answers older than the cut go, and their ratings with them
        Assert.Equal(2, await fx.Registry.WriteAsync(s => s.DeleteServedRequestsBeforeAsync(at.AddDays(1))));
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListFeedbackAsync("a")));
        Assert.Single(await fx.Registry.ReadAsync(s => s.ListFeedbackAsync("b")));
        Assert.Single(await fx.Registry.ReadAsync(s => s.ListServedRequestsAsync("b")));
    }
}
