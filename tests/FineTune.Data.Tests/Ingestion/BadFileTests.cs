// The corpus of broken files users upload, each written here with the exact result expected (code and line),
// and the rule that every input record comes back as exactly one accepted or rejected item.
using System.Text;
using FineTune.Data.Ingestion;
using static FineTune.Data.Tests.Ingestion.Ingest;

namespace FineTune.Data.Tests.Ingestion;

public sealed class BadFileTests
{
    [Fact]
    public async Task Truncated_json_line_is_rejected_with_its_line_and_position_and_the_rest_is_read()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", Jsonl(Chat(), """{"messages":[{"role":"user","content":"hi"}""", Chat()));
        var result = await ReadAsync(path);
        var bad = result.Single("invalid_json");
        Assert.Equal(2, bad.Line);
        Assert.Contains("not valid JSON at line 1, byte", bad.Reason);
        Assert.Equal("""{"messages":[{"role":"user","content":"hi"}""", bad.Raw);
        Assert.Equal([1L, 3L], result.Accepted.Select(a => a.Record.Line));
    }

    [Fact]
    public async Task Utf8_bom_is_stripped_accepted_and_reported_as_a_warning()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Jsonl(Chat(), Chat()))]);
        var result = await ReadAsync(path);
        Assert.Equal(2, result.Accepted.Count);
        Assert.Empty(result.Rejected);
        Assert.True(result.Summary.Utf8Bom);
        var report = new ValidationReport();
        report.Add(result.Summary);
        Assert.Contains(report.Warnings, w => w.Contains("byte-order mark"));
    }

    [Theory]
    [InlineData("le-bom")]
    [InlineData("be-bom")]
    [InlineData("le-no-bom")]
    public async Task Utf16_is_a_whole_file_error_that_says_to_resave_as_utf8(string variant)
    {
        using var dir = new TempDir();
        var text = Jsonl(Chat(), Chat());
        byte[] bytes = variant switch
        {
            "le-bom" => [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)],
            "be-bom" => [.. Encoding.BigEndianUnicode.GetPreamble(), .. Encoding.BigEndianUnicode.GetBytes(text)],
            _ => Encoding.Unicode.GetBytes(text),
        };
        var path = Write(dir, "d.jsonl", bytes);
        var e = await Assert.ThrowsAsync<InvalidDatasetException>(() => ReadAsync(path));
        Assert.Contains("is UTF-16; re-save it as UTF-8", e.Message);
    }

    [Fact]
    public async Task Invalid_utf8_rejects_only_that_line_and_reading_continues()
    {
        using var dir = new TempDir();
        var lines = Jsonl(Chat(), Chat(), Chat("caf\u0001"), Chat()).Split('\n');
        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', lines)).Select(b => b == 0x01 ? (byte)0xFF : b).ToArray();
        var result = await ReadAsync(Write(dir, "d.jsonl", bytes));
        var bad = result.Single("invalid_utf8");
        Assert.Equal(3, bad.Line);
        Assert.Contains("0xFF", bad.Reason);
        Assert.Contains('\uFFFD', bad.Raw);
        Assert.Equal([1L, 2L, 4L], result.Accepted.Select(a => a.Record.Line));
    }

    [Fact]
    public async Task Crlf_line_endings_are_accepted_without_a_trailing_carriage_return()
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.jsonl", $"{Chat()}\r\n{Chat("a", "b")}\r\n{Chat()}\r\n"));
        Assert.Equal(3, result.Accepted.Count);
        Assert.Empty(result.Rejected);
        Assert.True(result.Summary.CrlfLineEndings);
        Assert.Equal("b", result.Accepted[1].Record.Messages[1].Content);
        Assert.DoesNotContain('\r', result.Accepted[1].Raw);
    }

    [Fact]
    public async Task A_single_10_MB_line_is_accepted_whole()
    {
        using var dir = new TempDir();
        var big = new string('x', 10 * 1024 * 1024);
        var result = await ReadAsync(Write(dir, "d.jsonl", Jsonl(Chat(), Chat("q", big), Chat())));
        Assert.Equal(3, result.Accepted.Count);
        Assert.Equal(big.Length, result.Accepted[1].Record.Messages[1].Content.Length);
    }

    [Fact]
    public async Task A_record_over_MaxRecordBytes_is_rejected_and_the_next_line_is_read()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", Jsonl(Chat(), Chat("q", new string('x', 300_000)), Chat()));
        var result = await ReadAsync(path, new ReadOptions { MaxRecordBytes = 100_000 });
        Assert.Equal(2, result.Single("record_too_large").Line);
        Assert.Equal([1L, 3L], result.Accepted.Select(a => a.Record.Line));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \n\n \r\n")]
    public async Task An_empty_file_is_a_whole_file_error(string text)
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", text);
        var e = await Assert.ThrowsAsync<InvalidDatasetException>(() => ReadAsync(path));
        Assert.Contains("is empty", e.Message);
    }

    [Fact]
    public async Task A_json_array_instead_of_jsonl_is_detected_and_accepted()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.json", $"[\n  {Chat()},\n  {Chat("a", "b")},\n  {Chat()}\n]\n");
        Assert.Equal(new Detection(ContainerKind.JsonArray, SourceFormat.Chat, false, 1),
            await DatasetReader.DetectAsync(path));
        var result = await ReadAsync(path);
        Assert.Equal([1L, 2L, 3L], result.Accepted.Select(a => a.Record.Line));
        Assert.Equal(Chat("a", "b"), result.Accepted[1].Raw);
    }

    [Fact]
    public async Task A_truncated_json_array_keeps_the_complete_elements_and_rejects_the_rest_once()
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.json", $"[{Chat()}, {Chat()}, {{\"messages\": [{{\"role\""));
        Assert.Equal(2, result.Accepted.Count);
        Assert.Equal(3, result.Single("invalid_json").Line);
    }

    [Fact]
    public async Task Wrong_schema_gives_data_type_for_non_objects_and_missing_messages_list_for_objects()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl",
            Jsonl(Chat(), "42", "\"text\"", "[1, 2]", """{"foo": 1}""", """{"messages": []}"""));
        var result = await ReadAsync(path);
        Assert.Equal([2L, 3L, 4L],
            result.Rejected.Where(r => r.Rejection.Code == "data_type").Select(r => r.Rejection.Line));
        Assert.Equal([5L, 6L],
            result.Rejected.Where(r => r.Rejection.Code == "missing_messages_list").Select(r => r.Rejection.Line));
        Assert.Single(result.Accepted);
    }

    [Fact]
    public async Task A_record_of_another_format_inside_a_file_is_mixed_format()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", Jsonl(Chat(), """{"instruction": "i", "output": "o"}""",
            """{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}""", Chat()));
        var result = await ReadAsync(path);
        Assert.Equal([2L, 3L], result.Rejected.Select(r => r.Rejection.Line));
        Assert.All(result.Rejected, r => Assert.Equal("mixed_format", r.Rejection.Code));
        Assert.Contains("fields of alpaca", result.Rejected[0].Rejection.Reason);
        Assert.Contains("the file is chat (detected from record 1", result.Rejected[0].Rejection.Reason);
    }

    [Fact]
    public async Task A_chat_without_an_assistant_turn_is_rejected()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl",
            Jsonl(Chat(), """{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}"""));
        Assert.Equal(2, (await ReadAsync(path)).Single("example_missing_assistant_message").Line);
    }

    [Fact]
    public async Task A_preference_pair_with_identical_chosen_and_rejected_is_rejected()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl",
            Jsonl("""{"prompt": "p", "chosen": "a", "rejected": "b"}""",
            """{"prompt": "p", "chosen": "same", "rejected": "same"}"""));
        var result = await ReadAsync(path);
        Assert.Equal(2, result.Single("identical_preference").Line);
        Assert.Single(result.Accepted);
    }

    [Fact]
    public async Task Json_array_elements_over_the_limit_are_skipped_and_text_after_the_array_is_rejected()
    {
        using var dir = new TempDir();
        var big = Chat("q", new string('x', 500_000));
        var many = "{\"messages\": [" +
            string.Join(",", Enumerable.Repeat("""{"role": "user", "content": "q"}""", 20_000)) + "]}";
        var result = await ReadAsync(Write(dir, "d.json", $"[{Chat()},{big},{many},{Chat()}]\n{Chat()}\n"),
            new ReadOptions { MaxRecordBytes = 100_000 });
        Assert.Equal([2L, 3L],
            result.Rejected.Where(r => r.Rejection.Code == "record_too_large").Select(r => r.Rejection.Line));
        Assert.Equal(5, result.Single("invalid_json").Line);
        Assert.Equal([1L, 4L], result.Accepted.Select(a => a.Record.Line));
    }

    [Fact]
    public async Task Every_record_is_accounted_for_and_blank_lines_are_counted_not_dropped()
    {
        using var dir = new TempDir();
        var lines = new[] { Chat(), "", "not json", "  ", Chat(), "42",
            """{"messages": [{"role": "bot", "content": "x"}]}""", Chat() };
        var result = await ReadAsync(Write(dir, "d.jsonl", Jsonl(lines)));
        Assert.Equal(6, result.Accepted.Count + result.Rejected.Count);
        Assert.Equal(2, result.Summary.BlankLines);
        Assert.Equal(3, result.Accepted.Count);
    }
}
