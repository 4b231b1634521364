// What the pipeline tests share: a tiny pre-trained base model (built once per machine, cached under the temp folder),
// settings small enough for a run in well under a minute, and datasets (the demo tickets; a malformed file).
using System.Text.Json.Nodes;
using FineTune.Demo;
using FineTune.Pipeline;

namespace FineTune.Pipeline.Tests;

public static class PipelineFixture
{
    public static TinyBaseModelOptions BaseOptions => TestBaseModel.Options;

    public static Task<string> BaseModelAsync() => TestBaseModel.DirectoryAsync();

    public static PipelineSettings FastSettings(int epochs = 2) => new()
    {
        Tokenize = new TokenizeSettings { MaxLength = 256, ChatTemplate = "chatml" },
        Training = new JsonObject
        {
            ["method"] = "lora",
            ["lora"] = new JsonObject
            {
                ["rank"] = 8, ["alpha"] = 16,
                ["target_modules"] = new JsonArray("all-linear")
            },
            ["optimizer"] = new JsonObject { ["lr"] = 5e-3 },
            ["training"] = new JsonObject { ["epochs"] = epochs, ["micro_batch_size"] = 8, ["threads"] = 2 },
            ["eval"] = new JsonObject { ["every_steps"] = 10 },
            ["checkpoint"] = new JsonObject { ["every_steps"] = 5, ["keep_last"] = 2 },
        },
        Evaluation = new EvaluationSettings
        {
            Suites = ["perplexity", "rouge", "task"], Limit = 12, MaxNewTokens = 16,
            BatchSize = 6
        },
    };

    /// <summary>The demo support tickets (chat records ending with the strict-JSON answer).</summary>
    public static async Task<string> TicketsAsync(string dir, int count, int seed)
    {
        var d = Path.Combine(dir, $"tickets-{seed}");
        await SupportTickets.WriteAsync(d, count, 0, seed);
        var file = Path.Combine(dir, $"tickets-{seed}.jsonl");
        File.Move(Path.Combine(d, "train.jsonl"), file, overwrite: true);
        return file;
    }

    public static string Malformed(string dir)
    {
        var file = Path.Combine(dir, "broken.jsonl");
        File.WriteAllLines(file,
            Enumerable.Range(0,
            30).Select(i => i % 3 == 0 ? "{\"messages\": [{\"role\": \"user\"" : "not json at all"));
        return file;
    }

    public static Dictionary<string, string?> FastHost() => new()
    {
        ["Pipeline:Threads"] = "2",
        ["Pipeline:TrainingLeaseSeconds"] = "10",
        ["Pipeline:TrainingPollSeconds"] = "0.2",
        ["Pipeline:RetryIntervalsSeconds:0"] = "0.2",
        ["Pipeline:RetryIntervalsSeconds:1"] = "0.5",
    };
}
