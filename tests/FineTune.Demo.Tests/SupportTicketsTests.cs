// The demo dataset: deterministic, strict JSON answers, and a test split that shares no product with train.
using System.Text.Json;
using FineTune.Demo;

namespace FineTune.Demo.Tests;

public class SupportTicketsTests
{
    [Fact]
    public async Task Same_seed_writes_identical_files_and_answers_are_strict_json()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        await SupportTickets.WriteAsync(a.Path, 200, 50, seed: 3);
        await SupportTickets.WriteAsync(b.Path, 200, 50, seed: 3);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, "train.jsonl")),
            File.ReadAllBytes(Path.Combine(b.Path, "train.jsonl")));

        var lines = File.ReadAllLines(Path.Combine(a.Path, "train.jsonl"));
        Assert.Equal(200, lines.Length);
        foreach (var line in lines)
        {
            var messages = JsonDocument.Parse(line).RootElement.GetProperty("messages");
            Assert.Equal(["system", "user", "assistant"],
                messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
            var answer = JsonDocument.Parse(messages[2].GetProperty("content").GetString()!).RootElement;
            Assert.Contains(answer.GetProperty("category").GetString(),
                new[] { "billing", "technical", "account", "shipping" });
            Assert.Contains(answer.GetProperty("priority").GetString(), new[] { "low", "medium", "high" });
            Assert.False(string.IsNullOrWhiteSpace(answer.GetProperty("summary").GetString()));
        }
        Assert.True(lines.Distinct().Count() > 100, "tickets should vary");
    }

    [Fact]
    public async Task Test_tickets_mention_no_product_seen_in_training()
    {
        using var dir = new TempDir();
        await SupportTickets.WriteAsync(dir.Path, 300, 100, seed: 1);
        var train = File.ReadAllText(Path.Combine(dir.Path, "train.jsonl"));
        var test = File.ReadAllText(Path.Combine(dir.Path, "test.jsonl"));
        foreach (var product in new[] { "Lumen lamp", "Pico camera" })
            Assert.DoesNotContain(product, train);
        Assert.True(test.Contains("Lumen lamp") || test.Contains("Pico camera"));
    }
}
