// The command tree. Each command lives in Commands/<Name>Command.cs and writes to the given writers, so tests can run
// the CLI in-process and read what a user would see.
using System.CommandLine;
using FineTune.Cli.Commands;
using FineTune.Data;
using FineTune.Models;
using FineTune.Text;

namespace FineTune.Cli;

public static class Cli
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr,
        CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("FineTunePipeline: fine-tune, evaluate and serve Llama-family models.")
        {
            InspectCommand.Create(stdout),
            GenerateCommand.Create(stdout, stderr),
            ConvertCommand.Create(stdout),
            MergeCommand.Create(stdout),
            TokenizeCommand.Create(stdout),
            DataCommand.Create(stdout),
            EvalCommand.Create(stdout, stderr),
            EvalSetsCommand.Create(stdout),
            ScoreCommand.Create(stdout, stderr),
            RewardCommand.Create(stdout),
            GateCommand.Create(stdout),
            TrainCommand.Create(stdout, stderr),
            PretrainCommand.Create(stdout, stderr),
            RunCommand.Create(stdout, stderr),
            ServeCommand.Create(stdout),
            ConsoleCommand.Create(stdout),
            UploadCommand.Create(stdout),
            RunsCommand.Create(stdout),
            EventsCommand.Create(stdout),
            CheckpointsCommand.Create(stdout),
            CancelCommand.Create(stdout),
            ModelsCommand.Create(stdout),
            FeedbackCommand.Create(stdout),
            PromoteCommand.Create(stdout),
            RollbackCommand.Create(stdout),
        };
        var parsed = root.Parse(args);
        var config = new InvocationConfiguration
        {
            Output = stdout, Error = stderr,
            EnableDefaultExceptionHandler = false
        };
        try
        {
            return await parsed.InvokeAsync(config, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var (message, exit) = CliErrors.Describe(e);
            await stderr.WriteLineAsync(message);
            return exit;
        }
    }
}

/// <summary>One line for every failure, never a stack trace. What the user can fix (a missing file, a bad option, a
/// malformed dataset or model, a port in use) says what and why, exit 1; anything else is a bug in finetune and says
/// so, exit 70 (EX_SOFTWARE), so it is not mistaken for a problem with the input. FINETUNE_DEBUG=1 adds the
/// trace.</summary>
public static class CliErrors
{
    public const int UserError = 1, Bug = 70;

    public static (string Message, int Exit) Describe(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } single)
            e = single.InnerExceptions[0];
        var trace = Environment.GetEnvironmentVariable("FINETUNE_DEBUG") is "1" or "true" ? Environment.NewLine + e
            : "";
        return IsUsersToFix(e)
            ? ($"error: {e.Message}{trace}", UserError)
            : ($"internal error: {e.GetType().Name}: {e.Message} — this is a bug in finetune, not a problem with " +
                $"your input; please " +
               $"report it with the command you ran (FINETUNE_DEBUG=1 shows where it happened).{trace}", Bug);
    }

    static bool IsUsersToFix(Exception e) => e switch
    {
        // our code passing nothing where it must pass something
        ArgumentNullException => false,
        ModelFormatException or TokenizerLoadException or InvalidDatasetException or Training.TrainingConfigException
            or Pipeline.InvalidPipelineSettingsException or Pipeline.EvalSets.EvalSetNotFoundException => true,
        ArgumentException or FormatException or InvalidDataException or System.Text.Json.JsonException => true,
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or PathTooLongException
            or IOException => true,
        TimeoutException or System.Net.Http.HttpRequestException => true,
        _ => false,                                              // InvalidOperationException, NullReferenceException, …
    };
}
