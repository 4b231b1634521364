// How a host carries the console: AddFineTuneConsole (Razor components with interactive server rendering, Fluent UI,
// cookie sign-in with a console key, anti-forgery) and MapFineTuneConsole (the pages, and the form posts that sign in
// and out, promote, roll back and upload). Every page needs a signed-in key; the actions need an admin key and the
// form's anti-forgery token, so a forged POST is refused (400) and a viewer's is forbidden (403). Promote and rollback
// are the registry commands `finetune promote` / `rollback` send: a message the Deployment stage acts on.
using System.Security.Claims;
using FineTune.Console.Components;
using FineTune.Contracts;
using FineTune.Registry;
using MassTransit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.FluentUI.AspNetCore.Components;

namespace FineTune.Console;

public static class ConsoleHosting
{
    public const string AdminPolicy = "console-admin";

    public static IHostApplicationBuilder AddFineTuneConsole(this IHostApplicationBuilder builder)
    {
        var options = ConsoleOptions.From(builder.Configuration);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new ConsoleKeys(options));
        builder.Services.AddSingleton<ConsoleData>();
        builder.Services.AddSingleton<Uploads>();
        builder.Services.AddSingleton<Playground>();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddHttpClient();
        builder.Services.AddFluentUIComponents();
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.LoginPath = "/signin";
                o.AccessDeniedPath = "/signin";
                o.Cookie.Name = "finetune-console";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.ExpireTimeSpan = TimeSpan.FromHours(8);
                // pages send a person to sign in; an action posted without the right key is refused outright
                o.Events.OnRedirectToLogin = c => Refuse(c, StatusCodes.Status401Unauthorized);
                o.Events.OnRedirectToAccessDenied = c => Refuse(c, StatusCodes.Status403Forbidden);
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireRole(nameof(ConsoleRole.Admin)));
        builder.Services.AddAntiforgery();
        return builder;
    }

    public static WebApplication MapFineTuneConsole(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

        app.MapPost("/signin", async (HttpContext http, ConsoleKeys keys, [FromForm] string? key,
            [FromForm] string? returnUrl) =>
        {
            if (keys.Check(key) is not { } access)
                return Results.Redirect("/signin?failed=1");
            await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme,
                new ClaimsPrincipal(access.Identity(CookieAuthenticationDefaults.AuthenticationScheme)));
            return Results.LocalRedirect(returnUrl is { Length: > 0 } url && IsLocal(url) ? url : "/");
        });
        app.MapPost("/signout", async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.LocalRedirect("/signin");
        }).RequireAuthorization();

        app.MapPost("/actions/promote", async (HttpContext http, IPublishEndpoint bus, RunRegistry registry,
            [FromForm] string project, [FromForm] int version, CancellationToken ct) =>
        {
            project = ResourceNames.Validate(project, "project");
            if (NotAdminOf(http, project) is { } refused)
                return refused;
            var evaluation = await registry.ReadAsync(s => s.GetEvaluationAsync(project, version, ct), ct);
            if (evaluation is not { Promote: true })
                return Results.Conflict($"{project} version {version} " +
                    $"{(evaluation is null ? "was not evaluated" : "did not pass the gate")}; promotion goes through " +
                    "the gate.");
            await bus.Publish(new PromoteModel
            {
                RunId = Guid.NewGuid(), Project = project, ModelVersion = version, Alias = "production",
            }, ct);
            await WaitForProductionAsync(registry, project, v => v == version, ct);
            return Results.LocalRedirect($"/registry?project={Uri.EscapeDataString(project)}&promoted={version}");
        }).RequireAuthorization(AdminPolicy);
        app.MapPost("/actions/rollback", async (HttpContext http, IPublishEndpoint bus, RunRegistry registry,
            [FromForm] string project, CancellationToken ct) =>
        {
            project = ResourceNames.Validate(project, "project");
            if (NotAdminOf(http, project) is { } refused)
                return refused;
            var before = await registry.ReadAsync(s => s.GetAliasAsync(project, "production", ct), ct);
            if (before is null)
                return Results.Conflict($"{project} has no production version to roll back.");
            await bus.Publish(new RollBackDeployment
            {
                RunId = Guid.NewGuid(), Project = project, Alias = "production", Reason = "rolled back in the console",
            }, ct);
            var now = await WaitForProductionAsync(registry, project, v => v != before, ct);
            return Results.LocalRedirect($"/registry?project={Uri.EscapeDataString(project)}&rolledback={now}");
        }).RequireAuthorization(AdminPolicy);
        long uploadLimit = (long)(app.Services.GetRequiredService<ConsoleOptions>().MaxUploadMegabytes * 1024 * 1024)
            + 64 * 1024;
        app.MapPost("/actions/upload", async (HttpContext http, Uploads uploads, [FromForm] string project,
            IFormFile file, CancellationToken ct) =>
        {
            try
            {
                if (NotAdminOf(http, ResourceNames.Validate(project, "project")) is { } refused)
                    return refused;
                await using var content = file.OpenReadStream();
                var check = await uploads.StageAsync(project, file.FileName, content, ct);
                return Results.LocalRedirect($"/upload/{check.Id:N}");
            }
            catch (Exception e) when (e is ArgumentException or FineTune.Data.InvalidDatasetException
                or InvalidDataException or System.Text.Json.JsonException)
            {
                return Results.LocalRedirect($"/upload?error={Uri.EscapeDataString(e.Message)}");
            }
        }).RequireAuthorization(AdminPolicy)
            .WithMetadata(new RequestSizeLimitAttribute(uploadLimit),
                new RequestFormLimitsAttribute { MultipartBodyLengthLimit = uploadLimit });
        app.MapPost("/actions/upload/{id:guid}/submit", async (HttpContext http, Uploads uploads, Guid id,
            CancellationToken ct) =>
        {
            var check = await uploads.ReadAsync(id, ct);
            if (check is null || !ConsoleAccess.From(http.User).CanView(check.Project))
                return Results.NotFound("this upload is not staged (it was submitted, or it expired).");
            if (NotAdminOf(http, check.Project) is { } refused)
                return refused;
            if (!check.Ok)
                return Results.Conflict($"{check.FileName} did not pass validation: {check.Verdict}");
            var artifact = await uploads.SubmitAsync(id, ct);
            return Results.LocalRedirect($"/?project={Uri.EscapeDataString(check.Project)}" +
                $"&uploaded={Uri.EscapeDataString(artifact.Key)}");
        }).RequireAuthorization(AdminPolicy);
        return app;
    }

    static Task Refuse(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (context.Request.Path.StartsWithSegments("/actions"))
            context.Response.StatusCode = status;
        else
            context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    // The admin policy lets in a key that is an admin somewhere; the project acted on must be one of its own.
    static IResult? NotAdminOf(HttpContext http, string project) =>
        ConsoleAccess.From(http.User).CanAdmin(project) ? null
            : Results.Text($"this key may not change project {ResourceNames.Shown(project)}.",
                statusCode: StatusCodes.Status403Forbidden);

    static bool IsLocal(string url) => url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal)
        && !url.StartsWith("/\\", StringComparison.Ordinal);

    static async Task<int?> WaitForProductionAsync(RunRegistry registry, string project, Func<int?, bool> done,
        CancellationToken ct)
    {
        for (int i = 0; i < 120; i++)
        {
            var v = await registry.ReadAsync(s => s.GetAliasAsync(project, "production", ct), ct);
            if (done(v))
                return v;
            await Task.Delay(250, ct);
        }
        throw new TimeoutException($"{project}/production did not change within 30 s: is the Deployment service " +
            "running?");
    }
}
