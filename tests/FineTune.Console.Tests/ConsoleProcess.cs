// A program as a person starts it, on a free loopback port: `finetune console` over a local pipeline home with a viewer
// key and an admin key (from the repository root, as the README shows), or the Deployment service (its build output)
// serving that home's registry. Its output is kept for failure messages.
using System.Diagnostics;
using System.Net;
using System.Text;

namespace FineTune.Console.Tests;

public sealed class ConsoleProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();
    public Uri Address { get; }
    public int ProcessId => _process.Id;

    ConsoleProcess(Process process, Uri address) => (_process, Address) = (process, address);

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>`finetune console --home HOME --port P` from the repository root, as the README shows it: the admin
    /// key from FINETUNE_CONSOLE_ADMIN_KEY, the viewer key (and <paramref name="extra"/> settings) from the
    /// environment, so no key is on a command line.</summary>
    public static Task<ConsoleProcess> StartAsync(string home, string viewerKey, string adminKey,
        string configuration = "", IReadOnlyDictionary<string, string>? extra = null,
        IReadOnlyList<string>? arguments = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["FINETUNE_CONSOLE_ADMIN_KEY"] = adminKey, ["Console__Keys__0"] = viewerKey,
            ["Console__RefreshSeconds"] = "0.5", ["Pipeline__Threads"] = "1",
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
            environment[k] = v;
        var repository = Repository();
        configuration = Configuration(configuration);
        var port = FreePorts.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(repository, "tools", "FineTune.Cli", "bin", configuration, "net10.0", "finetune.dll"),
                "console", "--home", home, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            WorkingDirectory = repository,
        };
        foreach (var a in arguments ?? [])
            start.ArgumentList.Add(a);
        return StartProcessAsync("finetune console", start, port, environment, "signin");
    }

    /// <summary>The Deployment service over a local pipeline home: its OpenAI endpoint serves the registry's
    /// aliases (re-read every second) with <paramref name="key"/>.</summary>
    public static Task<ConsoleProcess> StartDeploymentAsync(string home, string key) =>
        StartServiceAsync("Deployment", "FineTune.DeploymentService", new Dictionary<string, string>
        {
            ["Pipeline__WorkDirectory"] = Path.Combine(home, "work-deployment"),
            ["Pipeline__WatchIngestionBucket"] = "false", ["Pipeline__Threads"] = "1",
            ["Artifacts__LocalDirectory"] = Path.Combine(home, "artifacts"), ["Artifacts__S3Endpoint"] = "",
            ["Registry__Provider"] = "sqlite",
            ["Registry__ConnectionString"] = $"Data Source={Path.Combine(home, "registry.db")}",
            ["Messaging__RabbitMqUri"] = "", ["Serving__RegistryPollSeconds"] = "1",
            ["Serving__ResponseCacheEntries"] = "0", ["FINETUNE_API_KEY"] = key,
        }, "health", "");

    static Task<ConsoleProcess> StartServiceAsync(string folder, string assembly,
        IReadOnlyDictionary<string, string> environment, string readyPath, string configuration)
    {
        var dll = Path.Combine(Repository(), "services", folder, "bin", Configuration(configuration), "net10.0",
            assembly + ".dll");
        var port = FreePorts.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--urls", $"http://127.0.0.1:{port}" },
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        return StartProcessAsync(folder, start, port, environment, readyPath);
    }

    static string Repository()
    {
        var repository = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repository, "FineTunePipeline.sln")))
            repository = Path.GetDirectoryName(repository.TrimEnd('/'))
                ?? throw new InvalidOperationException("the repository root was not found above the test");
        return repository;
    }

    // Debug or Release: the test's own, unless named
    static string Configuration(string configuration) => configuration.Length > 0 ? configuration
        : new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    static async Task<ConsoleProcess> StartProcessAsync(string folder, ProcessStartInfo start, int port,
        IReadOnlyDictionary<string, string> environment, string readyPath)
    {
        (start.RedirectStandardOutput, start.RedirectStandardError, start.UseShellExecute) = (true, true, false);
        foreach (var (k, v) in environment)
            start.Environment[k] = v;
        var process = Process.Start(start)!;
        var console = new ConsoleProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => console.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => console.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = console.Address };
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(250))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{folder} exited ({process.ExitCode}):\n{console.Output}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{folder} did not answer within 60 s:\n{console.Output}");
            try
            {
                using var response = await http.GetAsync(readyPath);
                if (response.StatusCode == HttpStatusCode.OK)
                    return console;
            }
            catch (HttpRequestException)
            {
            }
        }
    }

    void Keep(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
