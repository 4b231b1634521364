// The console's configuration (section "Console"): who may sign in — viewer keys see, admin keys may also promote,
// roll back and upload — for every project (Keys, AdminKeys) or for the projects named under Projects (e.g.
// Console:Projects:tickets:AdminKeys:0); keys given plain (hashed when read) or "sha256:<hex>", as serving keys are.
using Microsoft.Extensions.Configuration;

namespace FineTune.Console;

public sealed record ConsoleOptions
{
    public const string Section = "Console";
    public IReadOnlyList<string> Keys { get; init; } = [];
    public IReadOnlyList<string> AdminKeys { get; init; } = [];
    /// <summary>Keys that see (Keys) or act on (AdminKeys) one project only: its runs, versions, uploads and served
    /// models; the rest of the console is as empty to them as to a stranger.</summary>
    public IReadOnlyDictionary<string, ConsoleProjectKeys> Projects { get; init; } =
        new Dictionary<string, ConsoleProjectKeys>();
    /// <summary>How often an open page looks for news in the registry (server side; the browser is pushed the
    /// change).</summary>
    public double RefreshSeconds { get; init; } = 1;
    /// <summary>The OpenAI-compatible endpoint the playground talks to (the Deployment service's base address, e.g.
    /// http://127.0.0.1:5000/); null: no playground.</summary>
    public string? ServingUrl { get; init; }
    /// <summary>The key the playground presents there; held by the server, never sent to the browser.</summary>
    public string? ServingKey { get; init; }
    /// <summary>The largest dataset file the upload page takes.</summary>
    public double MaxUploadMegabytes { get; init; } = 256;

    public static ConsoleOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<ConsoleOptions>() ?? new ConsoleOptions();
}

public sealed record ConsoleProjectKeys
{
    public IReadOnlyList<string> Keys { get; init; } = [];
    public IReadOnlyList<string> AdminKeys { get; init; } = [];
}
