// What one signed-in key may see and do: a role over every project (All) and roles over named projects. Pages show
// only the projects a key may view (runs, versions, served models); promote, rollback and upload need the admin role
// for the project acted on. Carried in the sign-in cookie as claims ("*=Admin", "tickets=Viewer").
using System.Security.Claims;

namespace FineTune.Console;

public sealed record ConsoleAccess(string Name, ConsoleRole? All, IReadOnlyDictionary<string, ConsoleRole> Projects)
{
    const string ScopeClaim = "finetune-console-scope";

    /// <summary>The projects this key is limited to, or null when it sees every project.</summary>
    public IReadOnlyCollection<string>? Visible => All is null ? [.. Projects.Keys.Order(StringComparer.Ordinal)]
        : null;

    public bool CanView(string project) => All is not null || Projects.ContainsKey(project);

    public bool CanAdmin(string project) =>
        All == ConsoleRole.Admin || Projects.GetValueOrDefault(project, ConsoleRole.Viewer) == ConsoleRole.Admin;

    /// <summary>Admin of at least one project: may open the upload page.</summary>
    public bool IsAdmin => All == ConsoleRole.Admin || Projects.Values.Contains(ConsoleRole.Admin);

    public ClaimsIdentity Identity(string scheme)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, Name),
            new(ClaimTypes.Role, (IsAdmin ? ConsoleRole.Admin : ConsoleRole.Viewer).ToString()),
        };
        if (All is { } all)
            claims.Add(new Claim(ScopeClaim, $"*={all}"));
        claims.AddRange(Projects.Select(p => new Claim(ScopeClaim, $"{p.Key}={p.Value}")));
        return new ClaimsIdentity(claims, scheme);
    }

    /// <summary>The access a signed-in user's claims carry; nobody's (no project) for anyone else.</summary>
    public static ConsoleAccess From(ClaimsPrincipal user)
    {
        ConsoleRole? all = null;
        var projects = new Dictionary<string, ConsoleRole>(StringComparer.Ordinal);
        if (user.Identity?.IsAuthenticated == true)
            foreach (var claim in user.FindAll(ScopeClaim))
            {
                int eq = claim.Value.LastIndexOf('=');
                if (eq <= 0 || !Enum.TryParse<ConsoleRole>(claim.Value[(eq + 1)..], out var role))
                    continue;
                if (claim.Value[..eq] == "*")
                    all = role;
                else
                    projects[claim.Value[..eq]] = role;
            }
        return new ConsoleAccess(user.Identity?.Name ?? "", all, projects);
    }

    /// <summary>The project a served model belongs to: the registry serves a project's production version as the
    /// project's name and the others as "project:alias" / "project:vN".</summary>
    public static string ProjectOf(string model) => model.IndexOf(':') is var colon and > 0 ? model[..colon] : model;
}
