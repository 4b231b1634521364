// RegistrySession: answered requests and the feedback on them.
namespace FineTune.Registry;

internal sealed partial class RegistrySession
{
    public async Task RecordServedRequestsAsync(IReadOnlyList<ServedRequestRecord> requests,
        CancellationToken ct = default)
    {
        foreach (var r in requests)
            await ExecAsync("""
                insert into served_requests (id, choice, project, version, release_id, variant, kind, prompt, answer,
                    created_at)
                values (@id, @choice, @project, @version, @releaseId, @variant, @kind, @prompt, @answer, @createdAt)
                on conflict do nothing
                """, new
            {
                id = r.Id, choice = r.Choice, project = r.Project, version = r.Version, releaseId = r.ReleaseId,
                variant = r.Variant, kind = r.Kind, prompt = r.Prompt, answer = r.Answer,
                createdAt = At(OrNow(r.CreatedAt)),
            }, ct);
    }

    public Task<ServedRequestRecord?> GetServedRequestAsync(string id, int choice, CancellationToken ct = default) =>
        QueryOneAsync("select * from served_requests where id = @id and choice = @choice", new { id, choice },
            MapServedRequest, ct);

    public Task<IReadOnlyList<ServedRequestRecord>> ListServedRequestsAsync(string project,
        CancellationToken ct = default) =>
        QueryAsync("select * from served_requests where project = @project order by created_at, id, choice",
            new { project }, MapServedRequest, ct);

    static ServedRequestRecord MapServedRequest(Row r) =>
        new(r.Text("id"), r.Int("choice"), r.Text("project"), r.IntOrNull("version"), r.TextOrNull("release_id"),
            r.TextOrNull("variant"), r.Text("kind"), r.Text("prompt"), r.Text("answer"), r.Time("created_at"));

    public async Task<long> AddFeedbackAsync(FeedbackRecord feedback, CancellationToken ct = default) =>
        await QueryOneAsync("""
            insert into feedback (completion_id, choice, project, rating, scale, correction, comment, created_at)
            values (@completionId, @choice, @project, @rating, @scale, @correction, @comment, @createdAt)
            returning id
            """, new
        {
            completionId = feedback.CompletionId, choice = feedback.Choice, project = feedback.Project,
            rating = feedback.Rating, scale = feedback.Scale, correction = feedback.Correction,
            comment = feedback.Comment, createdAt = At(OrNow(feedback.CreatedAt)),
        }, r => r.Long("id"), ct);

    public Task<IReadOnlyList<FeedbackRecord>> ListFeedbackAsync(string project, bool unexportedOnly = false,
        CancellationToken ct = default) =>
        QueryAsync($"select * from feedback where project = @project " +
            $"{(unexportedOnly ? "and exported_at is null" : "")} order by id", new { project },
            r => new FeedbackRecord(r.Long("id"), r.Text("completion_id"), r.Int("choice"), r.Text("project"),
                r.Double("rating"), r.Text("scale"),
                r.TextOrNull("correction"), r.TextOrNull("comment"), r.Time("created_at"),
                r.TimeOrNull("exported_at"), r.TextOrNull("export_key")), ct);

    public Task<IReadOnlyList<double>> ListVersionRatingsAsync(string project, int version, int limit,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return QueryAsync("""
            select f.rating from feedback f
            join served_requests r on r.id = f.completion_id and r.choice = f.choice
            where f.project = @project and r.version = @version
            order by f.id desc limit @limit
            """, new { project, version, limit }, r => r.Double("rating"), ct);
    }

    public Task<IReadOnlyList<string>> ListFeedbackProjectsAsync(CancellationToken ct = default) =>
        QueryAsync("select distinct project from feedback order by project", new { }, r => r.Text("project"), ct);

    public async Task MarkFeedbackExportedAsync(IReadOnlyList<long> ids, string exportKey,
        CancellationToken ct = default)
    {
        foreach (var id in ids)
            await ExecAsync("update feedback set exported_at = @now, export_key = @exportKey where id = @id",
                new { id, exportKey, now = At(Now()) }, ct);
    }

    public async Task<int> DeleteServedRequestsBeforeAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        // feedback goes with its request (the foreign key cascades on both databases)
        return await ExecAsync("delete from served_requests where created_at < @before", new { before = At(before) },
            ct);
    }
}
