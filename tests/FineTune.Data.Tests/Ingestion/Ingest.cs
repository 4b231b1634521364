// Test helpers for ingestion: write a file into a TempDir, read it completely, and check every record is accounted for.
using System.Text;
using FineTune.Data.Ingestion;

namespace FineTune.Data.Tests.Ingestion;

internal sealed record ReadResult(List<Accepted> Accepted, List<Rejected> Rejected, SourceSummary Summary)
{
    public Rejection Single(string code) => Assert.Single(Rejected, r => r.Rejection.Code == code).Rejection;
}

internal static class Ingest
{
    public static string Write(TempDir dir, string name, string text) => Write(dir, name, Encoding.UTF8.GetBytes(text));

    public static string Write(TempDir dir, string name, byte[] bytes)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Reads everything and asserts the stream shape: records first, then exactly one SourceSummary.</summary>
    public static async Task<ReadResult> ReadAsync(string path, ReadOptions? options = null)
    {
        var items = new List<ReadItem>();
        await foreach (var item in DatasetReader.ReadAsync(path, options ?? new ReadOptions()))
            items.Add(item);
        var summary = Assert.IsType<SourceSummary>(items[^1]);
        Assert.DoesNotContain(items[..^1], i => i is SourceSummary);
        return new ReadResult(items.OfType<Accepted>().ToList(), items.OfType<Rejected>().ToList(), summary);
    }

    /// <summary>Lines of JSON text joined with LF (and a final LF).</summary>
    public static string Jsonl(params string[] lines) => string.Join("\n", lines) + "\n";

    public static string Chat(string user = "hi", string assistant = "hello") =>
        $$"""{"messages":[{"role":"user","content":"{{user}}"},{"role":"assistant","content":"{{assistant}}"}]}""";
}
