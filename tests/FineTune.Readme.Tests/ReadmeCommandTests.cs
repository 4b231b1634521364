// Every command the README shows, run as a newcomer would: from the root of a fresh copy of the repository, word for
// word from the blocks marked readme-test, one bash session per block. A failing command fails the test with the
// command and the output. The distributed block starts RabbitMQ, PostgreSQL and s3rver of its own (as root, like CI).
using System.Text.Json.Nodes;

namespace FineTune.Readme.Tests;

[CollectionDefinition("readme", DisableParallelization = true)]
public sealed class ReadmeCollection : ICollectionFixture<FreshCheckout>;

[Collection("readme")]
public class ReadmeCommandTests(FreshCheckout checkout)
{
    static ReadmeBlock Block(string name) =>
        ReadmeBlocks.Parse(File.ReadAllText(Path.Combine(FreshCheckout.RepositoryRoot(),
            "README.md"))).SingleOrDefault(b => b.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"README.md has no block marked readme-test: {name}.");

    // The manual and distributed blocks run in the shell the shorthand block set up, as a reader's does.
    async Task<string> Run(string name, TimeSpan timeout)
    {
        var block = Block(name);
        var commands = name == "main" ? block.Commands : [.. Block("shorthand").Commands, .. block.Commands];
        var (exit, output, failed) = await checkout.RunAsync(commands, timeout);
        // The whole transcript stays beside the test results, for a person to read.
        var log = Path.Combine(FreshCheckout.RepositoryRoot(), "tests", "FineTune.Readme.Tests", "TestResults",
            $"readme-{name}.log");
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        await File.WriteAllTextAsync(log, output);
        var tail = string.Join('\n', output.Split('\n').TakeLast(80));
        Assert.True(exit == 0,
            $"README.md:{block.Line} ({name}): `{failed ?? "?"}` failed (exit {exit}). Last lines:\n{tail}");
        return output;
    }

    [Fact]
    public void The_readme_marks_its_runnable_blocks()
    {
        var names = ReadmeBlocks.Parse(File.ReadAllText(Path.Combine(FreshCheckout.RepositoryRoot(),
            "README.md"))).Select(b => b.Name).ToList();
        Assert.Equal(["main", "shorthand", "manual", "distributed"], names);
        Assert.Throws<FormatException>(() => ReadmeBlocks.Parse("<!-- readme-test: x -->\nnot a fence\n"));
    }

    [Fact]
    public void The_readmes_test_command_is_what_ci_runs()
    {
        // The README's test command is the fenced line after the paragraph that introduces the tests; .ci/run runs it,
        // and it runs the build-and-test line and the style check the README shows.
        var root = FreshCheckout.RepositoryRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string Fenced(string pattern)
        {
            var line = System.Text.RegularExpressions.Regex.Match(readme, $"```\n({pattern})\n```").Groups[1].Value;
            Assert.NotEqual("", line);
            return line;
        }
        var command = Fenced(@"scripts/[a-z-]+\.sh");
        Assert.Contains($"exec bash {command}", File.ReadAllLines(Path.Combine(root, ".ci", "run")));
        var script = File.ReadAllLines(Path.Combine(root, command));
        Assert.Contains(Fenced(@"dotnet build FineTunePipeline\.sln && dotnet test [^\n]*"), script);
        Assert.Contains(Fenced(@"dotnet format whitespace [^\n]*"), script);
    }

    [Fact]
    public async Task The_main_job_runs_the_sample_to_a_decision()
    {
        var output = await Run("main", TimeSpan.FromMinutes(20));
        Assert.Matches("decision: (promoted|rejected)", output);
        var report = Directory.GetFiles(Path.Combine(checkout.Root, "runs"), "report.json",
            SearchOption.AllDirectories).Single();
        var json = JsonNode.Parse(File.ReadAllText(report))!;
        Assert.Equal("succeeded", json["status"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(checkout.Root, ".finetune", "registry.db")));
    }

    [SkippableFact]
    public async Task The_manual_steps_convert_prepare_tokenize_train_and_generate()
    {
        Skip.IfNot(FreshCheckout.SharedDataPresent,
            "../shared/data is absent: the manual steps read the stories260K checkpoint from it.");
        var output = await Run("manual", TimeSpan.FromMinutes(15));
        Assert.True(File.Exists(Path.Combine(checkout.Root, "runs", "stories260K-lora", "adapter",
            "adapter_config.json")));
        // both generate commands
        Assert.Equal(2, output.Split('\n').Count(l => l.StartsWith("ids: [", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task The_distributed_block_starts_the_services_follows_an_upload_to_its_decision_and_stops()
    {
        Skip.IfNot(Environment.UserName == "root",
            "the distributed block starts RabbitMQ and PostgreSQL as their own users, which needs root (CI runs as " +
            "root).");
        var output = await Run("distributed", TimeSpan.FromMinutes(20));
        Assert.Contains("uploaded ingestion/tickets/train.jsonl", output);
        // the watched run's last line
        Assert.Matches(@"tickets\s+succeeded\s+deployment succeeded\s+(promoted|rejected)\s+1", output);
        // finetune models
        Assert.Matches(@"tickets\s+1\s+adapter\s+(pass|fail)", output);
        Assert.Contains("stopped deployment", output);
        // the servers are gone too
        Assert.False(File.Exists(Path.Combine(checkout.Root, ".run", "infra.env")));
    }
}
