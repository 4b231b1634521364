// On-disk cache of judge replies keyed by SHA-256 of everything that determines a judgment (model, rubric, prompt,
// answers, order), so rerunning an evaluation sends no request for items already judged. Only usable replies are
// stored.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FineTune.Evals.Judging;

internal sealed class JudgeCache(string? directory)
{
    sealed record Entry(string Key, string Reply);

    /// <summary>Hex SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ.</summary>
    public static string Key(params string?[] parts)
    {
        var sb = new StringBuilder();
        foreach (var p in parts)
            sb.Append(p is null ? "-1"
                : p.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(':').Append(p)
                .Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    public async Task<string?> TryGetAsync(string key, CancellationToken ct)
    {
        if (directory is null)
            return null;
        var path = PathOf(key);
        if (!File.Exists(path))
            return null;
        try
        {
            await using var stream = File.OpenRead(path);
            var entry = await JsonSerializer.DeserializeAsync<Entry>(stream, cancellationToken: ct);
            return entry?.Key == key ? entry.Reply : null;
        }
        // a torn or foreign file is a miss
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    public async Task PutAsync(string key, string reply, CancellationToken ct)
    {
        if (directory is null)
            return;
        Directory.CreateDirectory(directory);
        var path = PathOf(key);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(new Entry(key, reply)), ct);
        File.Move(temp, path, overwrite: true);   // readers never see a half-written entry
    }

    string PathOf(string key) => Path.Combine(directory!, key + ".json");
}
