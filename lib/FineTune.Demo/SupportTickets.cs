// A synthetic task the project ships without external data: customer support tickets -> strict JSON with category,
// priority and a one-line summary. Deterministic for a seed; used by the single-process demo and the tests.
using System.Text.Json;

namespace FineTune.Demo;

public static class SupportTickets
{
    public const string SystemPrompt =
        "You triage customer support tickets. Answer with JSON only: {\"category\": one of billing, technical, " +
            "account, shipping, " +
        "\"priority\": one of low, medium, high, \"summary\": one short sentence}.";

    sealed record Template(string Category, string Priority, string Ticket, string Summary);

    static readonly string[] Products = ["Aurora router", "Nimbus app", "Vela headphones", "Orbit watch", "Lumen lamp",
        "Pico camera"];
    static readonly string[] Names = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas"];
    static readonly string[] Amounts = ["$12.99", "$49.00", "$129.50", "$8.75", "$310.00"];
    static readonly string[] Days = ["two days", "a week", "ten days", "three weeks", "since Monday"];

    static readonly Template[] Templates =
    [
        new("billing", "high",
            "I was charged {amount} twice for my {product} order. Please refund the duplicate charge.",
            "Customer was double-charged {amount} for a {product} order."),
        new("billing", "medium", "My invoice for the {product} shows {amount}, but the price on your site was lower.",
            "Invoice amount {amount} for {product} does not match the listed price."),
        new("billing", "low", "Could you send me a copy of last month's invoice for the {product}? My name is {name}.",
            "Customer {name} requests a copy of last month's {product} invoice."),
        new("technical", "high",
            "The {product} stopped working completely {days} ago and nothing I try brings it back.",
            "The {product} has been completely dead for {days}."),
        new("technical", "medium", "The {product} keeps disconnecting every few minutes. It started {days} ago.",
            "The {product} disconnects intermittently, starting {days} ago."),
        new("technical", "low", "Is there a dark mode for the {product}? The screen is a bit bright at night.",
            "Customer asks whether the {product} has a dark mode."),
        new("account", "high",
            "Someone changed the password on my account and I can't log in. I think I was hacked. - {name}",
            "Customer {name} reports a possibly compromised account."),
        new("account", "medium", "I never received the verification e-mail for my new {product} account.",
            "Verification e-mail for a new {product} account never arrived."),
        new("account", "low", "How do I change the display name on my profile? I'm {name}.",
            "Customer {name} asks how to change their display name."),
        new("shipping", "high",
            "My {product} order shows delivered but it never arrived, and it was a gift for tomorrow.",
            "A {product} order marked delivered never arrived and is urgent."),
        new("shipping", "medium", "My {product} has been stuck in transit for {days}. Any update?",
            "A {product} shipment has been in transit for {days}."),
        new("shipping", "low", "Can I change the delivery address for my {product} order before it ships?",
            "Customer wants to change the delivery address of a {product} order."),
    ];

    static readonly string[] Openers = ["", "Hello, ", "Hi team, ", "Good morning. ", "Hey, "];
    static readonly string[] Closers = ["", " Thanks.", " Thank you!", " Regards.", " Please help."];

    /// <summary>
    /// The sample's pipeline settings (pipeline.json beside the data, what `finetune run` uses for the sample): the
    /// gate
    /// decides on what the task asks for — the category must get better, the priority and the summary must not get
    /// worse, and the answers must be JSON (the task suite's metrics; docs/pipeline.md).
    /// </summary>
    public const string PipelineSettingsJson = """
        {
          "gate": [
            { "metric": "task/category_accuracy", "kind": "improve", "threshold": 0.01 },
            { "metric": "task/priority_accuracy", "kind": "no_regression", "threshold": 0.05 },
            { "metric": "task/summary_rougeL", "kind": "no_regression", "threshold": 0.05 },
            { "metric": "task/json_valid", "kind": "at_least", "threshold": 0.99 }
          ]
        }
        """;

    public const string SettingsFileName = "pipeline.json";

    /// <summary>Writes <see cref="PipelineSettingsJson"/> as pipeline.json into <paramref name="directory"/> (kept when
    /// it exists:
    /// a person may have edited it) and returns its path.</summary>
    public static async Task<string> WriteSettingsAsync(string directory, CancellationToken ct = default)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, SettingsFileName);
        if (!File.Exists(path))
            await File.WriteAllTextAsync(path, PipelineSettingsJson + "\n", ct);
        return path;
    }

    /// <summary>Writes train.jsonl and test.jsonl (chat schema with a system prompt) and pipeline.json into <paramref
    /// name="directory"/>.</summary>
    public static async Task WriteAsync(string directory, int trainCount, int testCount, int seed,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegative(testCount);
        Directory.CreateDirectory(directory);
        var random = new Random(seed);
        // Test tickets come from products the training set never mentions, so the split measures generalisation.
        await WriteFileAsync(Path.Combine(directory, "train.jsonl"), Generate(random, trainCount, Products[..4]), ct);
        await WriteFileAsync(Path.Combine(directory, "test.jsonl"), Generate(random, testCount, Products[4..]), ct);
        await WriteSettingsAsync(directory, ct);
    }

    public static IEnumerable<(string Ticket, string Answer)> Generate(Random random, int count, string[] products)
    {
        for (int i = 0; i < count; i++)
        {
            var template = Templates[random.Next(Templates.Length)];
            string Fill(string text) => text
                .Replace("{product}", products[random.Next(products.Length)])
                .Replace("{name}", Names[random.Next(Names.Length)])
                .Replace("{amount}", Amounts[random.Next(Amounts.Length)])
                .Replace("{days}", Days[random.Next(Days.Length)]);
            int state = random.Next();
            var filled = Fill(template.Ticket + "\u0000" + template.Summary).Split('\u0000');
            var ticket = Openers[state % Openers.Length] + filled[0] + Closers[state / 7 % Closers.Length];
            var answer = JsonSerializer.Serialize(new
            {
                category = template.Category, priority = template.Priority,
                summary = filled[1]
            });
            yield return (ticket, answer);
        }
    }

    static async Task WriteFileAsync(string path, IEnumerable<(string Ticket, string Answer)> examples,
        CancellationToken ct)
    {
        await using var writer = new StreamWriter(path);
        foreach (var (ticket, answer) in examples)
        {
            var record = new
            {
                messages = new[]
                {
                    new { role = "system", content = SystemPrompt },
                    new { role = "user", content = ticket },
                    new { role = "assistant", content = answer },
                },
            };
            await writer.WriteLineAsync(JsonSerializer.Serialize(record).AsMemory(), ct);
        }
    }
}
