using System.Diagnostics;
using FineTune.Training.Pretraining;

if (args is ["lengths"]) { await Sample.Lengths(); return; }
if (args is ["sha"]) { await Sha.Run(); return; }
if (args is ["cli", ..])
{
    var root = new System.CommandLine.RootCommand("t") { FineTune.Cli.Commands.PretrainCommand.Create(Console.Out, Console.Error) };
    Environment.ExitCode = await root.Parse(args[1..]).InvokeAsync();
    return;
}
var overrides = args;
Console.WriteLine($"load before: {File.ReadAllText("/proc/loadavg").Trim()}");
var options = TinyBaseModel.LoadOptions(null, overrides);
var sw = Stopwatch.StartNew();
var dir = await TinyBaseModel.EnsureAsync("/tmp/ftbase-proto", options, new P());
Console.WriteLine($"{dir} in {sw.Elapsed.TotalSeconds:F1} s");
Console.WriteLine(File.ReadAllText(Path.Combine(dir, "bootstrap.json")));
Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}; cpu {System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:F0} s");

sealed class P : IProgress<TinyBaseModelProgress>
{
    readonly Stopwatch _sw = Stopwatch.StartNew();
    public void Report(TinyBaseModelProgress p)
    {
        if (p.Training is { } t)
        {
            if (t.Metrics is { } m) Console.WriteLine($"[{_sw.Elapsed.TotalSeconds:F1}] step {m.Step}/{t.TotalSteps} loss {m.TrainLoss:F3} lr {m.LearningRate:E2} {m.TokensPerSecond:F0} tok/s");
            else if (t.Eval is { } e) Console.WriteLine($"[{_sw.Elapsed.TotalSeconds:F1}] eval {e.Step}: {e.ValidLoss:F3} ({e.Seconds:F1}s)");
            return;
        }
        Console.WriteLine($"[{_sw.Elapsed.TotalSeconds:F1}] {p.Stage}: {p.Message}");
    }
}
