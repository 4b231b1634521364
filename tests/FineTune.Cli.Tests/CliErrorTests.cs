// Issue 16: every failure a person can fix ends in one line naming what and why, exit 1, no stack trace; a port is
// checked before the model loads; our own bugs say they are bugs (exit 70). A failed prepare leaves nothing
// half-written.
using System.Net;
using System.Net.Sockets;

namespace FineTune.Cli.Tests;

public class CliErrorTests
{
    static void OneLine(string err)
    {
        Assert.StartsWith("error: ", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task A_directory_or_a_missing_file_given_to_data_prepare_is_one_line_and_exit_1()
    {
        using var dir = new TempDir();
        var (exit, _, err) = await CliRunner.Run("data", "prepare", dir.Path, "--out", Path.Combine(dir.Path, "out"));
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("is a directory", err);
        (exit, _, err) = await CliRunner.Run("data", "prepare", Path.Combine(dir.Path, "nope.jsonl"), "--out",
            Path.Combine(dir.Path, "out"));
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("not found", err);
    }

    [Fact]
    public async Task A_prepare_that_fails_leaves_no_partial_files()
    {
        using var dir = new TempDir();
        var input = Path.Combine(dir.Path, "data.parquet");
        File.WriteAllText(input, "not a parquet file at all");
        var output = Path.Combine(dir.Path, "out");
        var (exit, _, err) = await CliRunner.Run("data", "prepare", input, "--out", output);
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Empty(Directory.Exists(output) ? Directory.GetFiles(output) : []);
    }

    [Fact]
    public async Task Serve_checks_its_port_before_loading_the_model()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        // Each refused in one line that names the problem, before anything loads.
        static async Task RefusedInOneLine(string problem, params string[] args)
        {
            var (exit, _, err) = await CliRunner.Run(["serve", "/nonexistent-model", .. args]);
            Assert.Equal(1, exit);
            OneLine(err);
            Assert.Contains(problem, err);
        }
        // The model does not even exist: the port is what is reported, because it is checked first.
        await RefusedInOneLine("already in use", "--port", port.ToString(), "--api-key", "k");
        await RefusedInOneLine("1 to 65535", "--port", "70000", "--api-key", "k");
        // --int8 is the older name of --dtype int8: asking for two formats at once is refused before anything loads
        await RefusedInOneLine("--dtype bfloat16 and --int8", "--dtype", "bfloat16", "--int8");
        var (exit, _, err) = await CliRunner.Run("serve", "/nonexistent-model", "--dtype", "fp8");
        Assert.NotEqual(0, exit);
        Assert.Contains("fp8", err);
        // --bf16-kv-cache is the older name of --kv-cache-dtype bfloat16: the same for the cache
        await RefusedInOneLine("--kv-cache-dtype float32 and --bf16-kv-cache", "--kv-cache-dtype", "float32",
            "--bf16-kv-cache");
        (exit, _, err) = await CliRunner.Run("serve", "/nonexistent-model", "--kv-cache-dtype", "int4");
        Assert.NotEqual(0, exit);
        Assert.Contains("int4", err);
    }

    [Fact]
    public async Task Console_names_a_missing_home_a_taken_port_and_a_bad_serving_address_in_one_line()
    {
        using var dir = new TempDir();
        var (exit, _, err) = await CliRunner.Run("console", "--home", Path.Combine(dir.Path, "nowhere"));
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("no pipeline home at", err);
        Assert.Contains("finetune run", err);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        (exit, _, err) = await CliRunner.Run("console", "--home", dir.Path, "--port",
            ((IPEndPoint)taken.LocalEndpoint).Port.ToString());
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("already in use", err);
        (exit, _, err) = await CliRunner.Run("console", "--home", dir.Path, "--port", "0", "--serving-url",
            "file:///etc/passwd");
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("--serving-url", err);
    }

    [Fact]
    public void Errors_the_user_can_fix_exit_1_and_our_bugs_say_so_with_exit_70()
    {
        Assert.Equal(CliErrors.UserError, CliErrors.Describe(new FileNotFoundException("no such file")).Exit);
        Assert.Equal(CliErrors.UserError, CliErrors.Describe(new IOException("port in use")).Exit);
        Assert.Equal(CliErrors.UserError, CliErrors.Describe(new ArgumentException("--port 0: ...")).Exit);
        var (message, exit) = CliErrors.Describe(new InvalidOperationException("Prefill was already called"));
        Assert.Equal(CliErrors.Bug, exit);
        Assert.StartsWith("internal error: InvalidOperationException: Prefill was already called", message);
        Assert.Contains("bug in finetune", message);
        Assert.Equal(CliErrors.Bug, CliErrors.Describe(new ArgumentNullException("x")).Exit);
        Assert.Equal(CliErrors.Bug, CliErrors.Describe(new NullReferenceException()).Exit);
    }

    [Theory]
    [InlineData("support:candidate")]
    [InlineData(" ")]
    [InlineData("Support")]
    public async Task Upload_refuses_a_project_name_that_could_collide_or_break_a_scan(string project)
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "data.jsonl");
        File.WriteAllText(file, "{}\n");
        var (exit, _, err) = await CliRunner.Run("upload", file, "--project", project, "--home",
            Path.Combine(dir.Path, "home"));
        Assert.Equal(1, exit);
        OneLine(err);
        Assert.Contains("is not a valid name", err);
    }
}
