// finetune console [--home DIR] [--host H] [--port N] [--admin-key KEY ...] [--key KEY ...] [--serving-url URL]:
// the web console (lib/FineTune.Console, what services/Console hosts) over a local pipeline home, beside
// `finetune run`: the runs live, a run's page with its charts, the registry with promote and rollback (the deployment
// stage runs here), upload, and a playground when --serving-url names an OpenAI endpoint (`finetune serve`, the
// Deployment service).
using System.CommandLine;
using System.Security.Cryptography;
using FineTune.Console;
using FineTune.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Cli.Commands;

static class ConsoleCommand
{
    public const string AdminKeyVariable = "FINETUNE_CONSOLE_ADMIN_KEY";

    public static Command Create(TextWriter stdout)
    {
        var home = new Option<string>("--home")
        {
            Description = "The local pipeline home `finetune run` writes", DefaultValueFactory = _ => ".finetune",
        };
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1",
        };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 5080 };
        var adminKeys = new Option<string[]>("--admin-key")
        {
            Description = $"A key that may see everything, promote, roll back and upload (repeatable; also " +
                $"{AdminKeyVariable} or Console__AdminKeys__0). No key at all: one is generated and printed",
        };
        var keys = new Option<string[]>("--key")
        {
            Description = "A key that may only look (repeatable; also Console__Keys__0; keys of one project: " +
                "Console__Projects__NAME__Keys__0 and __AdminKeys__0)",
        };
        var servingUrl = new Option<string?>("--serving-url")
        {
            Description = "The OpenAI-compatible endpoint the playground asks (e.g. http://127.0.0.1:8000/ of " +
                "`finetune serve`); none: no playground",
        };
        var servingKey = new Option<string?>("--serving-key")
        {
            Description = "The API key the playground presents there (also FINETUNE_API_KEY); kept on the server",
        };
        var command = new Command("console",
            "The web console over a local pipeline home: runs live, training charts, evaluation, the registry with " +
            "promote and rollback, upload, playground.")
        {
            home, host, port, adminKeys, keys, servingUrl, servingKey,
        };
        command.SetAction(async (parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(home)!);
            if (!Directory.Exists(dir))
                throw new DirectoryNotFoundException($"--home: there is no pipeline home at '{dir}'; `finetune run " +
                    "FILE` makes one (.finetune in the folder it runs in), or name one with --home DIR.");
            var serving = parse.GetValue(servingUrl) is { Length: > 0 } given ? given : null;
            if (serving is not null && (!Uri.TryCreate(serving, UriKind.Absolute, out var uri)
                || uri.Scheme is not ("http" or "https")))
                throw new ArgumentException($"--serving-url '{serving}': expected an http(s) address such as " +
                    "http://127.0.0.1:8000/.");
            ServeCommand.CheckAddress(parse.GetValue(host)!, parse.GetValue(port));
            var url = $"http://{parse.GetValue(host)}:{parse.GetValue(port)}";

            // the pages' scripts and styles are static web assets of this build (or wwwroot of a published one)
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions
            {
                ContentRootPath = AppContext.BaseDirectory, Args = [],
            });
            builder.WebHost.UseStaticWebAssets();
            builder.WebHost.UseUrls(url);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var settings = new Dictionary<string, string?> { [ConsoleHome.HomeKey] = dir };
            var admins = (parse.GetValue(adminKeys) ?? []).ToList();
            if (Environment.GetEnvironmentVariable(AdminKeyVariable) is { Length: > 0 } fromEnvironment)
                admins.Add(fromEnvironment);
            var viewers = parse.GetValue(keys) ?? [];
            var configured = ConsoleOptions.From(builder.Configuration);
            string? generated = null;
            if (admins.Count == 0 && viewers.Length == 0 && configured.AdminKeys.Count == 0
                && configured.Keys.Count == 0 && configured.Projects.Count == 0)
                admins.Add(generated = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
            // after whatever the configuration lists (numbered from 1000 so they add to it)
            for (int i = 0; i < admins.Count; i++)
                settings[$"{ConsoleOptions.Section}:AdminKeys:{1000 + i}"] = admins[i];
            for (int i = 0; i < viewers.Length; i++)
                settings[$"{ConsoleOptions.Section}:Keys:{1000 + i}"] = viewers[i];
            if (serving is not null)
            {
                settings[$"{ConsoleOptions.Section}:ServingUrl"] = serving;
                settings[$"{ConsoleOptions.Section}:ServingKey"] = parse.GetValue(servingKey)
                    ?? Environment.GetEnvironmentVariable("FINETUNE_API_KEY");
            }
            builder.Configuration.AddInMemoryCollection(settings);
            ConsoleHome.UseLocalHome(builder.Configuration);
            builder.AddServiceDefaults();
            builder.AddConsolePipeline();
            builder.AddFineTuneConsole();

            await using var app = builder.Build();
            app.MapDefaultEndpoints();
            app.MapFineTuneConsole();
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException e)
            {
                throw new IOException($"could not listen on {url}: {e.Message}", e);
            }
            await stdout.WriteLineAsync($"console at {url}/ over {dir}");
            if (generated is not null)
                await stdout.WriteLineAsync($"admin key (generated for this session; pass --admin-key or set " +
                    $"{AdminKeyVariable} to choose one): {generated}");
            return await ServeCommand.UntilCancelledAsync(app, ct);
        });
        return command;
    }
}
