// Small record builders shared by the cleaning tests.
namespace FineTune.Data.Tests.Cleaning;

internal static class TestRecords
{
    public static DataRecord Chat(long line, string user, string assistant, string? label = null,
        string? system = null) => new()
        {
            Kind = RecordKind.Chat,
            Line = line,
            Label = label,
            Messages = system is null
            ? [new Message("user", user), new Message("assistant", assistant)]
            : [new Message("system", system), new Message("user", user), new Message("assistant", assistant)],
        };

    public static DataRecord TextRecord(long line, string text) =>
        new() { Kind = RecordKind.Text, Line = line, Text = text };

    /// <summary>Words w{offset}..w{offset+count-1}: distinct words, so shingle overlaps can be counted by
    /// hand.</summary>
    public static IEnumerable<string> Words(int offset, int count) =>
        Enumerable.Range(offset, count).Select(i => $"w{i}");
}
