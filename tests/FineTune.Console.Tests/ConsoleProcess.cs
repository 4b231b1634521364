// The console as a person starts it (dotnet services/Console's build output, Development, so its static assets come
// from the build) over a local pipeline home, on a free loopback port, with a viewer key and an admin key. Its output
// is kept for failure messages.
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

    public static async Task<ConsoleProcess> StartAsync(string home, string viewerKey, string adminKey,
        string configuration = "")
    {
        var repository = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repository, "FineTunePipeline.sln")))
            repository = Path.GetDirectoryName(repository.TrimEnd('/'))
                ?? throw new InvalidOperationException("the repository root was not found above the test");
        if (configuration.Length == 0)
            configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;      // Debug or Release
        var dll = Path.Combine(repository, "services", "Console", "bin", configuration, "net10.0",
            "FineTune.ConsoleService.dll");
        var port = FreePorts.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--urls", $"http://127.0.0.1:{port}" },
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["Console__Home"] = home;
        start.Environment["Console__Keys__0"] = viewerKey;
        start.Environment["Console__AdminKeys__0"] = adminKey;
        start.Environment["Console__RefreshSeconds"] = "0.5";
        start.Environment["Pipeline__Threads"] = "1";
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
                throw new InvalidOperationException($"the console exited ({process.ExitCode}):\n{console.Output}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the console did not answer within 60 s:\n{console.Output}");
            try
            {
                using var response = await http.GetAsync("signin");
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
