// Parquet input: files written here with Parquet.Net's writer (flat columns, a list<struct<role, content>> messages
// column as Hugging Face writes chat data, several row groups, nulls) and the damaged files users upload.
using System.IO.Compression;
using FineTune.Data.Ingestion;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;
using static FineTune.Data.Tests.Ingestion.Ingest;

namespace FineTune.Data.Tests.Ingestion;

public sealed class ParquetTests
{
    static Message M(string role, string content) => new(role, content);

    /// <summary>A file of string columns, one row group per entry of <paramref name="groups"/>.</summary>
    static async Task<string> WriteFlat(TempDir dir, string name, string[] columns, params string?[][][] groups)
    {
        var fields = columns.Select(c => new DataField<string>(c)).ToArray();
        var path = Path.Combine(dir.Path, name);
        await using var file = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), file);
        foreach (var rows in groups)
        {
            using var group = writer.CreateRowGroup();
            for (var c = 0; c < fields.Length; c++)
                await group.WriteAsync(fields[c], rows.Select(r => r[c]).ToArray());
        }
        return path;
    }

    static readonly string[] Alpaca = ["instruction", "input", "output"];

    [Fact]
    public async Task Alpaca_columns_become_chat_records_numbered_by_row()
    {
        using var dir = new TempDir();
        var path = await WriteFlat(dir, "d.parquet", Alpaca,
            [["Add", "1 and 2", "3"], ["Greet", "", "hello"], ["Say no", null, "no"],
            ["Übersetze «Haus»", "", "house"]]);
        var result = await ReadAsync(path);
        Assert.Empty(result.Rejected);
        Assert.Equal(new Detection(ContainerKind.Parquet, SourceFormat.Alpaca, false, 1), result.Summary.Detection);
        Assert.Equal([1L, 2L, 3L, 4L], result.Accepted.Select(a => a.Record.Line));
        Assert.Equal([M("user", "Add\n\n1 and 2"), M("assistant", "3")], result.Accepted[0].Record.Messages);
        Assert.Equal([M("user", "Greet"), M("assistant", "hello")], result.Accepted[1].Record.Messages);
        Assert.Equal([M("user", "Say no"), M("assistant", "no")], result.Accepted[2].Record.Messages);
        Assert.Equal("""{"instruction":"Add","input":"1 and 2","output":"3"}""", result.Accepted[0].Raw);
        Assert.Equal("""{"instruction":"Übersetze «Haus»","input":"","output":"house"}""", result.Accepted[3].Raw);
    }

    [Fact]
    public async Task A_list_of_role_content_structs_is_a_chat_message_list_and_other_columns_keep_their_types()
    {
        using var dir = new TempDir();
        var schema = new ParquetSchema(
            new ListField("messages",
                new StructField("element", new DataField<string>("role"), new DataField<string>("content"))),
            new DataField<string>("label"), new DataField<int>("turns"), new DataField<bool>("ok"));
        static Dictionary<string, object?> Turn(string role, string content) =>
            new() { ["role"] = role, ["content"] = content };
        var rows = new List<IDictionary<string, object?>>
        {
            new Dictionary<string, object?> { ["messages"] = new List<Dictionary<string, object?>> { Turn("system",
                "be brief"), Turn("user", "hi"), Turn("assistant", "hello") }, ["label"] = "greeting", ["turns"] = 3,
                ["ok"] = true },
            new Dictionary<string, object?> { ["messages"] = new List<Dictionary<string, object?>> { Turn("user",
                "2+2?"), Turn("assistant", "4") }, ["label"] = "math", ["turns"] = 2, ["ok"] = false },
        };
        var path = Path.Combine(dir.Path, "chat.parquet");
        await using (var file = File.Create(path))
            await ParquetSerializer.SerializeUntypedAsync(rows, schema, file);

        var result = await ReadAsync(path);
        Assert.Empty(result.Rejected);
        Assert.Equal(SourceFormat.Chat, result.Summary.Detection.Format);
        Assert.Equal([M("system", "be brief"), M("user", "hi"), M("assistant", "hello")],
            result.Accepted[0].Record.Messages);
        Assert.Equal([M("user", "2+2?"), M("assistant", "4")], result.Accepted[1].Record.Messages);
        Assert.Equal(["greeting", "math"], result.Accepted.Select(a => a.Record.Label));
        Assert.Equal([1L, 2L], result.Accepted.Select(a => a.Record.Line));
        Assert.Equal("""{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"label":"math","turns":2,"ok":false}""",
            result.Accepted[1].Raw);
    }

    [Fact]
    public async Task A_null_message_content_is_missing_content_at_its_row()
    {
        using var dir = new TempDir();
        var schema = new ParquetSchema(
            new ListField("messages",
                new StructField("element", new DataField<string>("role"), new DataField<string>("content"))));
        static Dictionary<string, object?> Turn(string role, string? content) =>
            new() { ["role"] = role, ["content"] = content };
        var rows = new List<IDictionary<string, object?>>
        {
            new Dictionary<string, object?> { ["messages"] = new List<Dictionary<string, object?>> { Turn("user", "q"),
                Turn("assistant", "a") } },
            new Dictionary<string, object?> { ["messages"] = new List<Dictionary<string, object?>> { Turn("user", "q"),
                Turn("assistant", null) } },
        };
        var path = Path.Combine(dir.Path, "chat.parquet");
        await using (var file = File.Create(path))
            await ParquetSerializer.SerializeUntypedAsync(rows, schema, file);

        var result = await ReadAsync(path);
        var bad = result.Single("missing_content");
        Assert.Equal(2, bad.Line);
        Assert.Equal("messages[1].content", bad.Field);
        Assert.Equal([1L], result.Accepted.Select(a => a.Record.Line));
    }

    [Fact]
    public async Task A_string_messages_column_holding_a_json_array_is_read_as_that_array()
    {
        using var dir = new TempDir();
        var path = await WriteFlat(dir, "d.parquet", ["messages", "label"],
            [["""[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]""", "x"]]);
        var r = Assert.Single((await ReadAsync(path)).Accepted).Record;
        Assert.Equal([M("user", "q"), M("assistant", "a")], r.Messages);
        Assert.Equal("x", r.Label);
    }

    [Fact]
    public async Task A_row_with_a_null_output_is_rejected_with_its_row_number_and_the_rest_is_read()
    {
        using var dir = new TempDir();
        var path = await WriteFlat(dir, "d.parquet", Alpaca, [["a", "", "1"], ["b", "", null], ["c", "", "3"]]);
        var result = await ReadAsync(path);
        var bad = Assert.Single(result.Rejected).Rejection;
        Assert.Equal(NullOutputCode, bad.Code);
        Assert.Equal(2, bad.Line);
        Assert.Equal("output", bad.Field);
        Assert.Contains("\"output\":null", bad.Raw);
        Assert.Equal([1L, 3L], result.Accepted.Select(a => a.Record.Line));
    }

    // What the JSONL path reports for {"instruction": "b", "input": "", "output": null}: Parquet must say the same.
    const string NullOutputCode = RejectCodes.MissingField;

    [Fact]
    public async Task A_null_output_is_reported_as_the_same_code_as_in_jsonl()
    {
        using var dir = new TempDir();
        var jsonl = await ReadAsync(Write(dir, "d.jsonl",
            Jsonl("""{"instruction":"a","input":"","output":"1"}""",
            """{"instruction":"b","input":"","output":null}""")));
        Assert.Equal(NullOutputCode, Assert.Single(jsonl.Rejected).Rejection.Code);
    }

    [Fact]
    public async Task Every_row_of_every_row_group_is_read_in_order()
    {
        using var dir = new TempDir();
        string?[][] Group(int first, int count) =>
            Enumerable.Range(first, count).Select(i => new string?[] { $"q{i}", "", $"a{i}" }).ToArray();
        var path = await WriteFlat(dir, "upload.bin", Alpaca, Group(1, 4), Group(5, 1), Group(6, 3));
        await using (var reader = await ParquetReader.CreateAsync(path))
            Assert.Equal(3, reader.RowGroupCount);

        var result = await ReadAsync(path);
        Assert.Empty(result.Rejected);
        Assert.Equal(ContainerKind.Parquet, result.Summary.Detection.Container);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), result.Accepted.Select(a => a.Record.Line));
        Assert.Equal(Enumerable.Range(1, 8).Select(i => $"a{i}"),
            result.Accepted.Select(a => a.Record.Messages[1].Content));
    }

    [Fact]
    public async Task A_row_over_MaxRecordBytes_is_rejected_and_the_next_row_is_read()
    {
        using var dir = new TempDir();
        var path = await WriteFlat(dir, "d.parquet", Alpaca,
            [["a", "", "1"], ["b", "", new string('x', 300_000)], ["c", "", "3"]]);
        var result = await ReadAsync(path, new ReadOptions { MaxRecordBytes = 100_000 });
        Assert.Equal(2, result.Single("record_too_large").Line);
        Assert.Equal([1L, 3L], result.Accepted.Select(a => a.Record.Line));
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("footer-garbled")]
    [InlineData("magic-only")]
    public async Task A_damaged_parquet_file_is_a_whole_file_error_naming_the_file(string damage)
    {
        using var dir = new TempDir();
        var good = await File.ReadAllBytesAsync(await WriteFlat(dir, "good.parquet", Alpaca,
            [["a", "", "1"], ["b", "", "2"]]));
        byte[] bytes = damage switch
        {
            "truncated" => good[..(good.Length / 2)],
            "footer-garbled" => [.. good[..^12], .. Enumerable.Repeat((byte)0xAB, 8), .. "PAR1"u8.ToArray()],
            _ => "PAR1"u8.ToArray(),
        };
        var path = Write(dir, "bad.parquet", bytes);
        var e = await Assert.ThrowsAsync<InvalidDatasetException>(() => ReadAsync(path));
        Assert.Contains($"'{path}' is not a readable Parquet file", e.Message);
    }

    [Fact]
    public async Task A_parquet_named_file_that_is_not_parquet_says_so()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.parquet", Jsonl(Chat()));
        var e = await Assert.ThrowsAsync<InvalidDatasetException>(() => ReadAsync(path));
        Assert.Contains("is not a Parquet file", e.Message);
        Assert.Contains("PAR1", e.Message);
    }

    [Theory]
    [InlineData("d.parquet.gz")]
    [InlineData("d.gz")]
    public async Task Gzip_wrapped_parquet_is_rejected_with_a_clear_message(string name)
    {
        using var dir = new TempDir();
        var parquet = await File.ReadAllBytesAsync(await WriteFlat(dir, "good.parquet", Alpaca, [["a", "", "1"]]));
        using var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest))
            zip.Write(parquet);
        var path = Write(dir, name, gz.ToArray());
        var e = await Assert.ThrowsAsync<InvalidDatasetException>(() => ReadAsync(path));
        Assert.Contains("gzip-compressed Parquet", e.Message);
        Assert.Contains("gunzip", e.Message);
    }
}
