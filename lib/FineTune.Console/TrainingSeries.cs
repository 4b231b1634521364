// The training curves of a run, from its "metrics" events (one per logged step; the data the trainer writes: step,
// train_loss, full_valid_loss at evaluation steps, token accuracies, learning_rate, tokens_per_second; for preference
// recipes GRPO's and PPO's reward and kl, DPO's reward_chosen, reward_rejected, reward_margin and
// valid_reward_margin): each chart's series as (step, value) points, kept in step order as events arrive.
using System.Text.Json;
using FineTune.Registry;

namespace FineTune.Console;

public sealed class TrainingSeries
{
    /// <summary>Each chart: its title and its series (the name shown, the event field it reads).</summary>
    public static readonly IReadOnlyList<(string Id, string Title, (string Name, string Field)[] Series)> Charts =
    [
        ("loss", "Loss", [("train", "train_loss"), ("validation", "full_valid_loss")]),
        ("accuracy", "Token accuracy", [("train", "train_mean_token_accuracy"),
            ("validation", "valid_mean_token_accuracy")]),
        ("learning-rate", "Learning rate", [("learning rate", "learning_rate")]),
        ("throughput", "Tokens per second", [("tokens/s", "tokens_per_second")]),
        ("reward", "Reward", [("reward", "reward"), ("chosen", "reward_chosen"), ("rejected", "reward_rejected"),
            ("margin", "reward_margin"), ("validation margin", "valid_reward_margin")]),
        ("kl", "KL to the reference", [("kl", "kl")]),
    ];

    readonly Dictionary<string, List<(int Step, double Value)>> _points = new(StringComparer.Ordinal);

    /// <summary>Reads the metrics events among <paramref name="events"/>; returns the points each field gained.
    /// </summary>
    public Dictionary<string, List<(int Step, double Value)>> Add(IEnumerable<RunEventRecord> events)
    {
        var added = new Dictionary<string, List<(int Step, double Value)>>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Type != "metrics" || e.DataJson is null)
                continue;
            using var json = JsonDocument.Parse(e.DataJson);
            if (!json.RootElement.TryGetProperty("step", out var s) || s.ValueKind != JsonValueKind.Number)
                continue;
            int step = s.GetInt32();
            foreach (var field in Charts.SelectMany(c => c.Series).Select(x => x.Field))
                if (json.RootElement.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number
                    && double.IsFinite(v.GetDouble()))
                {
                    Points(_points, field).Add((step, v.GetDouble()));
                    Points(added, field).Add((step, v.GetDouble()));
                }
        }
        return added;
    }

    static List<(int, double)> Points(Dictionary<string, List<(int, double)>> all, string field) =>
        all.TryGetValue(field, out var list) ? list : all[field] = [];

    public IReadOnlyList<(int Step, double Value)> Of(string field) =>
        _points.TryGetValue(field, out var list) ? list : [];

    public int Count => _points.Values.Sum(p => p.Count);
}
