// End-to-end through the command line: convert stories260K with its tokenizer, inspect it, generate ids and text,
// tokenize, and fail clearly on bad input.
using System.Text.Json.Nodes;

namespace FineTune.Cli.Tests;

public class CliTests
{
    [SkippableFact]
    public async Task Converted_stories260K_generates_the_reference_greedy_ids()
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        var tokenizer = SharedData.File("models/stories260K/tok512.bin");
        var referenceFile = SharedData.File("reference/stories260K_reference.json");
        var reference = JsonNode.Parse(File.ReadAllText(referenceFile))!["greedy_from_bos"]!
            .AsArray().Select(x => x!.GetValue<int>()).ToArray();
        using var dir = new TempDir();
        var model = Path.Combine(dir.Path, "stories260K");

        var convert = await CliRunner.Run("convert", "llama2c", checkpoint, model, "--tokenizer", tokenizer);
        Assert.True(convert.Exit == 0, convert.Err);
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.model", "generation_config.json" })
            Assert.True(File.Exists(Path.Combine(model, file)), $"{file} missing after convert");

        foreach (var engine in new[] { "cpu", "torch" })
        {
            var generate = await CliRunner.Run("generate", model, "--prompt-ids", "1", "--show-ids", "-n", "64",
                "--engine", engine);
            Assert.True(generate.Exit == 0, generate.Err);
            Assert.Equal(reference, CliRunner.Ids(generate.Out));
        }

        var raw = await CliRunner.Run("generate", checkpoint, "--prompt-ids", "1", "-n", "64");
        Assert.Equal(reference, CliRunner.Ids(raw.Out));

        var text = await CliRunner.Run("generate", model, "--prompt", "Once upon a time", "-n", "16", "--temperature",
            "0.8", "--seed", "1");
        Assert.True(text.Exit == 0, text.Err);
        Assert.False(string.IsNullOrWhiteSpace(text.Out));
    }

    [SkippableFact]
    public async Task Inspect_reports_the_architecture_and_parameter_count()
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        var (exit, output, _) = await CliRunner.Run("inspect", checkpoint);
        Assert.Equal(0, exit);
        Assert.Contains("llama", output);
        Assert.Contains("heads:          8 query, 4 key/value (head dim 8)", output);
        // (file size - 28) / 4 floats, minus the unused freq_cis tables
        Assert.Contains("parameters:     260,032", output);
    }

    [SkippableFact]
    public async Task Tokenize_prints_the_reference_ids_as_json()
    {
        var tokenizer = SharedData.File("models/llama2-tokenizer/tokenizer.model");
        var referenceFile = SharedData.File("reference/llama2_tokenizer_reference.json");
        var cases = JsonNode.Parse(File.ReadAllText(referenceFile))!["cases"]!.AsArray();
        var first = cases[0]!;
        var (exit, output, err) = await CliRunner.Run("tokenize", tokenizer, "--text",
            first["text"]!.GetValue<string>());
        Assert.True(exit == 0, err);
        Assert.Equal(first["ids"]!.ToJsonString().Replace(" ", ""), output.Trim().Replace(" ", ""));
    }

    [SkippableFact]
    public async Task Tokenize_reads_special_token_text_literally_unless_told_to_parse_it()
    {
        var llama3 = SharedData.File("models/llama3-tokenizer");
        var literal = await CliRunner.Run("tokenize", llama3, "--text", "a<|eot_id|>b");
        var parsed = await CliRunner.Run("tokenize", llama3, "--text", "a<|eot_id|>b", "--special");
        Assert.True(literal.Exit == 0 && parsed.Exit == 0, literal.Err + parsed.Err);
        Assert.DoesNotContain("128009", literal.Out);   // <|eot_id|> as text, like tiktoken and sentencepiece
        Assert.Contains("128009", parsed.Out);
    }

    [SkippableFact]
    public async Task Tokenizer_that_does_not_fit_the_model_is_rejected()
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        var llama2 = SharedData.File("models/llama2-tokenizer/tokenizer.model");
        var (exit, _, err) = await CliRunner.Run("generate", checkpoint, "--tokenizer", llama2, "--prompt", "Hello");
        Assert.Equal(1, exit);
        Assert.Contains("32000 tokens", err);
        Assert.Contains("vocabulary is 512", err);
    }

    [Fact]
    public async Task Missing_model_fails_with_a_clear_message()
    {
        var (exit, _, err) = await CliRunner.Run("generate", "/nonexistent/model", "--prompt-ids", "1");
        Assert.Equal(1, exit);
        Assert.Contains("model not found at '/nonexistent/model'", err);
    }

    [Fact]
    public async Task Bad_prompt_ids_name_the_item()
    {
        using var dir = new TempDir();
        var (exit, _, err) = await CliRunner.Run("generate", dir.Path, "--prompt-ids", "1,x");
        Assert.Equal(1, exit);
        Assert.Contains("'x' (item 2)", err);
    }
}
