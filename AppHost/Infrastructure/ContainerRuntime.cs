// Whether a container runtime answers: `docker info` (or the runtime ASPIRE_CONTAINER_RUNTIME names, e.g. podman)
// exits 0 within a few seconds. A client without an engine (this machine) answers no.
using System.ComponentModel;
using System.Diagnostics;

namespace FineTune.AppHost.Infrastructure;

public static class ContainerRuntime
{
    public static bool Answers(string? runtime)
    {
        var name = string.IsNullOrWhiteSpace(runtime) ? "docker" : runtime;
        try
        {
            using var process = Process.Start(new ProcessStartInfo(name, ["info"])
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            });
            if (process is null)
                return false;
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }
            return process.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            return false;   // no such program
        }
    }
}
