// Runs the finetune CLI in-process and captures what a user would see.
namespace FineTune.Cli.Tests;

static class CliRunner
{
    public static async Task<(int Exit, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await Cli.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
