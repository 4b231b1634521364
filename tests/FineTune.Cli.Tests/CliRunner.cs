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

    /// <summary>The ids that `generate --show-ids` printed on its "ids: [...]" line.</summary>
    public static int[] Ids(string output) =>
        System.Text.Json.Nodes.JsonNode.Parse(output.Split('\n').Single(l => l.StartsWith("ids: ",
            StringComparison.Ordinal))[5..])!
            .AsArray().Select(x => x!.GetValue<int>()).ToArray();
}
