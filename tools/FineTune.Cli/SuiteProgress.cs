// A progress bar per evaluation suite (Spectre.Console) on the error stream, so stdout stays the results table.
// On a non-interactive stream (CI, a test) Spectre prints plain progress lines instead of redrawing a bar.
using FineTune.Evals;
using Spectre.Console;

namespace FineTune.Cli;

static class SuiteProgress
{
    public static async Task<T> RunAsync<T>(TextWriter stderr, string suite, Func<IProgress<EvalProgress>,
        Task<T>> work)
    {
        bool terminal = ReferenceEquals(stderr, System.Console.Error) && !System.Console.IsErrorRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        T result = default!;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(suite, autoStart: true, maxValue: 1);
                result = await work(new Reporter(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                }));
                task.Value = task.MaxValue;
            });
        return result;
    }

    // Reports synchronously on the calling thread (Progress<T> would post to the thread pool and arrive late).
    sealed class Reporter(Action<EvalProgress> report) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => report(value);
    }
}
