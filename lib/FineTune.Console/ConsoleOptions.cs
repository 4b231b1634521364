// The console's configuration (section "Console"): who may sign in — viewer keys see everything, admin keys may also
// promote, roll back and upload — given as plain keys (hashed when read) or "sha256:<hex>", as the serving keys are.
using Microsoft.Extensions.Configuration;

namespace FineTune.Console;

public sealed record ConsoleOptions
{
    public const string Section = "Console";
    public IReadOnlyList<string> Keys { get; init; } = [];
    public IReadOnlyList<string> AdminKeys { get; init; } = [];
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
