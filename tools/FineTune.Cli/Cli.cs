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
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
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
            ScoreCommand.Create(stdout),
            GateCommand.Create(stdout),
            TrainCommand.Create(stdout, stderr),
            PretrainCommand.Create(stdout, stderr),
            RunCommand.Create(stdout, stderr),
            ServeCommand.Create(stdout),
        };
        foreach (var command in PipelineCommands.Create(stdout, stderr)) root.Subcommands.Add(command);
        var parsed = root.Parse(args);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return await parsed.InvokeAsync(config, cancellationToken);
        }
        catch (Exception e) when (e is ModelFormatException or TokenizerLoadException or InvalidDatasetException or ArgumentException or Training.TrainingConfigException
                                       or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or InvalidOperationException
                                       or Pipeline.InvalidPipelineSettingsException or TimeoutException)
        {
            await stderr.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
    }
}
