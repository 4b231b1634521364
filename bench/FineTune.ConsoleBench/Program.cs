// The web console under load it should take in stride: a registry with 100 runs, one of which logged 10,000 training
// steps. Measured in Debian's chromium (Playwright): the time from navigating to a run page until its loss chart holds
// all 10,000 points (first render, a new page each time; min/median/max of --repeat), and the console process's
// resident memory after the runs page and the run page have been served.
// Run: dotnet run -c Release --project bench/FineTune.ConsoleBench [-- --repeat 5]  → bench/results/console.json
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FineTune.Benchmarks;
using FineTune.Console.Tests;
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Playwright;

const string Chromium = "/usr/bin/chromium", Key = "console-bench-admin-key";
const int Runs = 100, Steps = 10_000;
int repeat = int.Parse(BenchEnvironment.Arg(args, "--repeat", "5"), CultureInfo.InvariantCulture);
var home = Directory.CreateTempSubdirectory("console-bench-").FullName;
try
{
    var registry = RunRegistry.Create(new RegistryOptions("sqlite",
        $"Data Source={Path.Combine(home, "registry.db")}"));
    await registry.MigrateAsync();
    var runIds = Enumerable.Range(0, Runs).Select(_ => Guid.NewGuid()).ToArray();
    await registry.WriteAsync(async s =>
    {
        for (int i = 0; i < Runs; i++)
            await s.ClaimRawObjectAsync($"project-{i % 10}", new ArtifactRef(Buckets.Ingestion,
                $"project-{i % 10}/data-{i}.jsonl", i.ToString("x64", CultureInfo.InvariantCulture), 1), $"e{i}",
                runIds[i], "drop");
    });
    var random = new Random(1);
    for (int from = 0; from < Steps; from += 1000)
        await registry.WriteAsync(async s =>
        {
            for (int step = from + 1; step <= from + 1000; step++)
                await s.AppendEventAsync(runIds[0], "info", "metrics", $"step {step}", JsonSerializer.Serialize(new
                {
                    step, total_steps = Steps, train_loss = 4.0 * Math.Exp(-step / 3000.0) + random.NextDouble() * 0.1,
                    valid_loss = (double?)null, full_valid_loss = step % 500 == 0 ? 4.0 * Math.Exp(-step / 3000.0)
                        : (double?)null,
                    train_mean_token_accuracy = 0.2 + 0.5 * step / Steps, learning_rate = 1e-4,
                    tokens_per_second = 20_000 + random.Next(1000),
                }));
        });

    await using var console = await ConsoleProcess.StartAsync(home, "viewer-key-unused", Key, "Release");
    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new()
    {
        ExecutablePath = Chromium, Args = ["--no-sandbox"]
    });
    var context = await browser.NewContextAsync(new() { BaseURL = console.Address.ToString() });
    var signin = await context.NewPageAsync();
    await signin.GotoAsync("/signin");
    await signin.FillAsync("#key", Key);
    await signin.ClickAsync("button[type=submit]");
    await signin.WaitForURLAsync("**/");
    await signin.WaitForSelectorAsync("table[aria-label='Runs']");
    int listed = await signin.Locator("table[aria-label='Runs'] a[href^='/runs/']").CountAsync();

    var times = new List<double>();
    for (int i = 0; i <= repeat; i++)       // the first is a warm-up (JIT, plotly.js into the browser's cache)
    {
        var page = await context.NewPageAsync();
        var clock = Stopwatch.StartNew();
        await page.GotoAsync($"/runs/{runIds[0]}");
        await page.WaitForFunctionAsync(
            $"() => (document.getElementById('chart-loss')?.data?.[0]?.x?.length ?? 0) >= {Steps}",
            null, new() { Timeout = 120_000, PollingInterval = 20 });
        if (i > 0)
            times.Add(clock.Elapsed.TotalMilliseconds);
        await page.CloseAsync();
    }
    var rss = File.ReadLines($"/proc/{console.ProcessId}/status").First(l => l.StartsWith("VmRSS:"))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
    times.Sort();
    var result = new
    {
        machine = $"{Environment.ProcessorCount} cores", runs = Runs, runs_listed_on_first_page = listed,
        metric_points = Steps, repeats = repeat,
        first_render_ms = new { min = times[0], median = times[times.Count / 2], max = times[^1] },
        console_rss_mb = Math.Round(long.Parse(rss, CultureInfo.InvariantCulture) / 1024.0, 1),
        measured = DateTimeOffset.UtcNow,
    };
    var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
    var output = Path.Combine(BenchEnvironment.RepoRoot(), "bench", "results", "console.json");
    await File.WriteAllTextAsync(output, json);
    Console.WriteLine(json);
}
finally
{
    Directory.Delete(home, recursive: true);
}
