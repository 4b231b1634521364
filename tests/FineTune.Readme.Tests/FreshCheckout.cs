// A fresh copy of the repository as a newcomer has it: the files git tracks (and new files not ignored), no build
// output, no .run/ or .finetune/, with ../shared beside it when the real one exists. Commands run from its root in a
// clean environment: no FINETUNE_* or OTEL_* variables from the test run, and servers on ports of their own.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FineTune.Readme.Tests;

public sealed class FreshCheckout : IDisposable
{
    readonly string _parent;

    public string Root { get; }
    public IReadOnlyDictionary<string, string> Ports { get; }

    public FreshCheckout()
    {
        var source = RepositoryRoot();
        _parent = Path.Combine(Path.GetTempPath(), $"finetune-readme-{Guid.NewGuid():N}"[..30]);
        Root = Path.Combine(_parent, "repo");
        foreach (var relative in Git(source, "ls-files -z --cached --others --exclude-standard").Split('\0',
            StringSplitOptions.RemoveEmptyEntries))
        {
            var from = Path.Combine(source, relative);
            // deleted in the working tree
            if (!File.Exists(from))
                continue;
            var to = Path.Combine(Root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
            if (OperatingSystem.IsLinux())
                File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        }
        var shared = Path.GetFullPath(Path.Combine(source, "..", "shared"));
        if (Directory.Exists(shared))
            Directory.CreateSymbolicLink(Path.Combine(_parent, "shared"), shared);
        // Servers of its own, as on a new machine: nothing the test run (or a developer) has running is touched.
        int services = FreeRange(5);
        Ports = new Dictionary<string, string>
        {
            ["FINETUNE_RABBITMQ_PORT"] = Free().ToString(), ["FINETUNE_RABBITMQ_MANAGEMENT_PORT"] = Free().ToString(),
            ["FINETUNE_RABBITMQ_DIST_PORT"] = Free().ToString(),
            ["FINETUNE_RABBITMQ_NODE"] = $"readme{Environment.ProcessId}@localhost",
            ["FINETUNE_POSTGRES_PORT"] = Free().ToString(), ["FINETUNE_S3_PORT"] = Free().ToString(),
            ["FINETUNE_SERVICES_PORT"] = services.ToString(),
        };
    }

    public static bool SharedDataPresent => Directory.Exists(Path.Combine(RepositoryRoot(), "..", "shared", "data"));

    /// <summary>Runs the lines as one bash session from the root. The first failing command stops it, and the result
    /// names it.</summary>
    public async Task<(int Exit, string Output, string? FailedCommand)> RunAsync(IReadOnlyList<string> commands,
        TimeSpan timeout)
    {
        var script = new StringBuilder();
        script.AppendLine("set -eo pipefail");
        script.AppendLine("trap 'echo \"README-COMMAND-FAILED: $BASH_COMMAND\"' ERR");
        foreach (var command in commands)
            script.AppendLine(command);
        var path = Path.Combine(_parent, $"block-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(path, script.ToString());

        var start = new ProcessStartInfo("bash", [path])
        {
            WorkingDirectory = Root, RedirectStandardOutput = true,
            RedirectStandardError = true
        };
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("FINETUNE_",
            StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        foreach (var (name, value) in Ports)
            start.Environment[name] = value;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        void Append(string? line)
        {
            if (line is null)
                return;
            lock (output)
                output.AppendLine(line);
        }
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Append($"README-COMMAND-FAILED: timed out after {timeout.TotalMinutes:0} min");
        }
        string text;
        lock (output)
            text = output.ToString();
        var failed = text.Split('\n').LastOrDefault(l => l.StartsWith("README-COMMAND-FAILED: ",
            StringComparison.Ordinal))?["README-COMMAND-FAILED: ".Length..];
        return (process.HasExited ? process.ExitCode : -1, text, failed);
    }

    public void Dispose()
    {
        // Whatever a failed block left running (services, servers) goes with the copy.
        try
        {
            if (Directory.Exists(Path.Combine(Root, ".run")))
                Process.Start(new ProcessStartInfo("bash", ["scripts/pipeline-stop.sh"])
                {
                    WorkingDirectory = Root,
                    RedirectStandardOutput = true, RedirectStandardError = true
                })!
                    .WaitForExit(120_000);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
        }
        try
        {
            Directory.Delete(_parent, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "global.json")) && File.Exists(Path.Combine(dir.FullName,
                "README.md")))
                return dir.FullName;
        throw new InvalidOperationException($"no repository root above {AppContext.BaseDirectory}.");
    }

    static string Git(string directory, string arguments)
    {
        var start = new ProcessStartInfo("git", arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true
        };
        using var process = Process.Start(start)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"git {arguments} failed in {directory}.");
        return text;
    }

    // below the ephemeral range, as FreePorts does: the servers bind these minutes later, after a build
    static int Free() => FreeRange(1);

    // Five consecutive free ports for the services (pipeline-start.sh gives them FINETUNE_SERVICES_PORT and the next
    // four).
    static int FreeRange(int count)
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int first = Random.Shared.Next(20000, 32768 - count);
            var listeners = new List<TcpListener>();
            try
            {
                for (int p = first; p < first + count; p++)
                {
                    var l = new TcpListener(IPAddress.Loopback, p);
                    l.Start();
                    listeners.Add(l);
                }
                return first;
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (var l in listeners)
                    l.Stop();
            }
        }
        throw new InvalidOperationException($"no {count} consecutive free ports found.");
    }
}
