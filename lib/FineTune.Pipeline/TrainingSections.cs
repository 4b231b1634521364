// A settings file's training section laid over the pipeline's, key by key: objects merge, any other value (numbers,
// strings, arrays) replaces. Where a section offers two ways to say one thing (eval.every_steps or eval.per_epoch,
// checkpoint.every_steps or checkpoint.per_epoch), the one the file gives replaces the default's other.
using System.Text.Json.Nodes;

namespace FineTune.Pipeline;

public static class TrainingSections
{
    static readonly (string Section, string A, string B)[] Alternatives =
    [
        ("eval", "every_steps", "per_epoch"),
        ("checkpoint", "every_steps", "per_epoch"),
    ];

    public static JsonObject Merge(JsonObject defaults, JsonObject given)
    {
        var merged = (JsonObject)defaults.DeepClone();
        foreach (var (section, a, b) in Alternatives)
            if (given[section] is JsonObject g && merged[section] is JsonObject m)
            {
                if (g.ContainsKey(a))
                    m.Remove(b);
                if (g.ContainsKey(b))
                    m.Remove(a);
            }
        Overlay(merged, given);
        return merged;
    }

    static void Overlay(JsonObject target, JsonObject source)
    {
        foreach (var (key, value) in source)
        {
            if (value is JsonObject child && target[key] is JsonObject existing)
                Overlay(existing, child);
            else
                target[key] = value?.DeepClone();
        }
    }
}
