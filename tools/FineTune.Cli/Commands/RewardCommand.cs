// finetune reward score MODEL [--adapter DIR] [--chat-template T] (--prompt P --response R | --file F): a reward
// model's scores. One pair prints its reward; a file (JSONL: `prompt` as a string or `messages` ending with a user
// turn, and `response`) prints one JSON line per record, {"line": N, "reward": R}, in order.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Cli.Commands;

static class RewardCommand
{
    const int MaxFileRecords = 100_000;

    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model")
        {
            Description = "A reward model directory (objective reward_model, full), or its base with --adapter",
        };
        var adapter = new Option<string?>("--adapter")
        {
            Description = "The reward model's LoRA adapter (task_type SEQ_CLS) over MODEL",
        };
        var template = new Option<string?>("--chat-template")
        {
            Description = "The template the training pairs were tokenized with: chatml, llama2, llama3, alpaca " +
                "(default: the tokenizer's, else chatml, as finetune data tokenize)",
        };
        var prompt = new Option<string?>("--prompt") { Description = "The user's message" };
        var response = new Option<string?>("--response") { Description = "The answer to score" };
        var file = new Option<string?>("--file")
        {
            Description = "JSONL: prompt (string) or messages (ending with a user turn), and response, per line",
        };
        var score = new Command("score", "Score answers with a reward model (higher is preferred).")
        {
            model, adapter, template, prompt, response, file,
        };
        score.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file);
            string? userPrompt = parse.GetValue(prompt), answer = parse.GetValue(response);
            bool pair = userPrompt is not null && answer is not null;
            if (pair == (path is not null) || path is not null && (userPrompt ?? answer) is not null)
                throw new ArgumentException("give --prompt and --response, or --file.");
            var items = path is null
                ? [(1L, new RewardItem([new Message("user", userPrompt!)], answer!))]
                : await ReadAsync(path, ct);
            using var scorer = RewardScorer.Open(parse.GetValue(model)!, parse.GetValue(adapter),
                parse.GetValue(template) is { } name ? ChatTemplate.Parse(name) : null);
            var rewards = scorer.Score(items.Select(i => i.Item).ToList(), ct);
            if (path is null)
                await stdout.WriteLineAsync(rewards[0].ToString("0.######", CultureInfo.InvariantCulture));
            else
                for (int i = 0; i < rewards.Length; i++)
                    await stdout.WriteLineAsync(new JsonObject { ["line"] = items[i].Line, ["reward"] = rewards[i] }
                        .ToJsonString());
            return 0;
        });
        return new Command("reward", "Reward models: score answers.") { score };
    }

    static async Task<List<(long Line, RewardItem Item)>> ReadAsync(string path, CancellationToken ct)
    {
        var items = new List<(long, RewardItem)>();
        long line = 0;
        await foreach (var text in File.ReadLinesAsync(path, ct))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
                continue;
            if (items.Count == MaxFileRecords)
                throw new InvalidDataException($"{path}: more than {MaxFileRecords:N0} records; split the file.");
            items.Add((line, Parse(text, $"{path}:{line}")));
        }
        if (items.Count == 0)
            throw new InvalidDataException($"{path}: no records (expected JSONL with prompt or messages, and " +
                "response).");
        return items;
    }

    static RewardItem Parse(string text, string where)
    {
        JsonObject record;
        try
        {
            record = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{where}: not a JSON object ({e.Message}).");
        }
        string Text(JsonNode? node, string field) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s
            : throw new InvalidDataException($"{where}: field '{field}' must be a string.");
        var response = Text(record["response"], "response");
        if (record["messages"] is JsonArray messages)
        {
            var turns = messages.Select((m, i) => m is JsonObject o
                ? new Message(Text(o["role"], $"messages[{i}].role"), Text(o["content"], $"messages[{i}].content"))
                : throw new InvalidDataException($"{where}: messages[{i}] must be an object with role and content."))
                .ToList();
            if (turns.Count == 0 || turns[^1].Role != "user")
                throw new InvalidDataException($"{where}: messages must end with a user turn.");
            if (turns.Find(t => t.Role is not ("system" or "user" or "assistant")) is { } bad)
                throw new InvalidDataException($"{where}: role '{bad.Role}' is not system, user or assistant.");
            return new RewardItem(turns, response);
        }
        return new RewardItem([new Message("user", Text(record["prompt"], "prompt"))], response);
    }
}
