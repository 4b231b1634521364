// RegistrySession: progressive releases (canary, shadow) and removing an alias when one ends.
namespace FineTune.Registry;

internal sealed partial class RegistrySession
{
    public async Task<bool> StartReleaseAsync(ReleaseRecord release, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        return await ExecAsync("""
            insert into releases (project, version, baseline_version, run_id, policy, settings, status, started_at)
            values (@project, @version, @baseline, @runId, @policy, @settings, 'running', @now)
            on conflict do nothing
            """, new
        {
            project = release.Project, version = release.Version, baseline = release.BaselineVersion,
            runId = Id(release.RunId), policy = release.Policy, settings = release.SettingsJson,
            now = At(OrNow(release.StartedAt)),
        }, ct) == 1;
    }

    public Task<IReadOnlyList<ReleaseRecord>> ListReleasesAsync(string? project = null, bool runningOnly = false,
        CancellationToken ct = default) =>
        QueryAsync($"select * from releases where 1 = 1 {(project is null ? "" : "and project = @project")} " +
            $"{(runningOnly ? "and status = 'running'" : "")} order by project, version",
            new { project }, MapRelease, ct);

    public async Task<bool> DecideReleaseAsync(string project, int version, string status,
        IReadOnlyList<string> reasons, string numbersJson, CancellationToken ct = default)
    {
        if (status is not ("promoted" or "rolled_back"))
            throw new ArgumentException($"a release ends promoted or rolled_back, not '{status}'", nameof(status));
        return await ExecAsync("""
            update releases set status = @status, decided_at = @now, reasons = @reasons, numbers = @numbers
            where project = @project and version = @version and status = 'running'
            """, new { project, version, status, now = At(Now()), reasons = Json(reasons), numbers = numbersJson },
            ct) == 1;
    }

    static ReleaseRecord MapRelease(Row r) =>
        new(r.Text("project"), r.Int("version"), r.Int("baseline_version"), r.Id("run_id"), r.Text("policy"),
            r.Text("settings"), r.Text("status"), r.Time("started_at"), r.TimeOrNull("decided_at"),
            r.TextOrNull("reasons") is { } reasons ? System.Text.Json.JsonSerializer.Deserialize<string[]>(reasons)
                : null, r.TextOrNull("numbers"));

    public async Task<int?> RemoveAliasAsync(string project, string alias, Guid runId, string reason,
        CancellationToken ct = default)
    {
        var args = new { project, alias, runId = Id(runId), reason, now = At(Now()) };
        var version = await QueryOneAsync($"select version from aliases where project = @project and alias = " +
            $"@alias{dialect.ForUpdate}", args, r => (int?)r.Int("version"), ct);
        if (version is null)
            return null;
        await ExecAsync("delete from aliases where project = @project and alias = @alias", args, ct);
        // the history keeps the removal: the alias pointed at this version until now
        await ExecAsync("""
            insert into deployments (project, alias, version, previous_version, run_id, reason, created_at)
            values (@project, @alias, @version, @version, @runId, @reason, @now)
            """, new { args.project, args.alias, version, args.runId, reason = "removed: " + reason, args.now }, ct);
        return version;
    }
}
