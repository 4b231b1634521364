// Every source format mapped to the normalised DataRecord, and every container (JSONL, JSON array, CSV with quoted
// newlines, TSV, .txt, gzip) read to the same records; plus detection and the explicit format override.
using System.IO.Compression;
using System.Text;
using FineTune.Data.Ingestion;
using static FineTune.Data.Tests.Ingestion.Ingest;

namespace FineTune.Data.Tests.Ingestion;

public sealed class FormatTests
{
    static async Task<DataRecord> OnlyRecord(string line)
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.jsonl", Jsonl(line)));
        Assert.Empty(result.Rejected);
        return Assert.Single(result.Accepted).Record;
    }

    static Message M(string role, string content, double? weight = null) => new(role, content, weight);

    [Fact]
    public async Task Alpaca_joins_instruction_and_input_into_the_user_turn()
    {
        var r = await OnlyRecord(
            """{"instruction": "Translate", "input": "chat", "output": "cat", "category": "mt"}""");
        Assert.Equal([M("user", "Translate\n\nchat"), M("assistant", "cat")], r.Messages);
        Assert.Equal("mt", r.Label);
        var noInput = await OnlyRecord("""{"instruction": "Say hi", "input": "", "output": "hi"}""");
        Assert.Equal("Say hi", noInput.Messages[0].Content);
    }

    [Fact]
    public async Task Prompt_completion_puts_context_before_the_prompt_and_question_answer_is_an_alias()
    {
        var r = await OnlyRecord("""{"prompt": "Who?", "completion": "Ann", "context": "Ann wrote it.", "label": 3}""");
        Assert.Equal([M("user", "Ann wrote it.\n\nWho?"), M("assistant", "Ann")], r.Messages);
        Assert.Equal("3", r.Label);
        var gsm = await OnlyRecord("""{"question": "1+1?", "answer": "#### 2"}""");
        Assert.Equal([M("user", "1+1?"), M("assistant", "#### 2")], gsm.Messages);
    }

    [Fact]
    public async Task Chat_keeps_multi_turn_messages_and_weights()
    {
        var r =
            await OnlyRecord("""{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1", "weight": 0}, {"role": "user", "content": "u2", "name": "bob"}, {"role": "assistant", "content": "a2", "weight": 1}]}""");
        Assert.Equal(RecordKind.Chat, r.Kind);
        Assert.Equal([M("system", "s"), M("user", "u1"), M("assistant", "a1", 0), M("user", "u2"),
            M("assistant", "a2", 1)], r.Messages);
    }

    [Fact]
    public async Task ShareGpt_maps_from_names_to_roles()
    {
        var r =
            await OnlyRecord("""{"system": "be brief", "conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}, {"from": "user", "value": "q2"}, {"from": "model", "value": "a2"}]}""");
        Assert.Equal([M("system", "be brief"), M("user", "q1"), M("assistant", "a1"), M("user", "q2"),
            M("assistant", "a2")], r.Messages);
    }

    [Fact]
    public async Task Preference_accepts_strings_and_message_lists_and_drops_a_repeated_prompt()
    {
        var s = await OnlyRecord("""{"prompt": "p", "chosen": "good", "rejected": "bad"}""");
        Assert.Equal(RecordKind.Preference, s.Kind);
        Assert.Equal([M("user", "p")], s.Messages);
        Assert.Equal([M("assistant", "good")], s.Chosen);
        Assert.Equal([M("assistant", "bad")], s.Rejected);
        var l =
            await OnlyRecord("""{"prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "assistant", "content": "bad"}]}""");
        Assert.Equal([M("assistant", "good")], l.Chosen);
        Assert.Equal([M("assistant", "bad")], l.Rejected);
    }

    [Fact]
    public async Task Feedback_is_a_completion_with_a_true_or_false_label_as_TRL_writes_it()
    {
        var up = await OnlyRecord("""{"prompt": "p", "completion": "good", "label": true}""");
        Assert.Equal(RecordKind.Feedback, up.Kind);
        Assert.Equal([M("user", "p")], up.Messages);
        Assert.Equal([M("assistant", "good")], up.Chosen);
        Assert.True(up.Desirable);
        Assert.Equal("true", up.Label);                   // the rating is the label the data card counts
        var down = await OnlyRecord(
            """{"prompt": [{"role": "user", "content": "p"}],""" +
            """ "completion": [{"role": "assistant", "content": "bad"}], "label": false}""");
        Assert.False(down.Desirable);
        // a category label is not a rating: that record is prompt/completion
        var category = await OnlyRecord("""{"prompt": "p", "completion": "c", "label": "billing"}""");
        Assert.Equal(RecordKind.Chat, category.Kind);

        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "f.jsonl", Jsonl(
            """{"prompt": "p", "completion": "a", "label": true}""",
            """{"prompt": "q", "completion": "b"}""",
            """{"prompt": [{"role": "assistant", "content": "x"}], "completion": "b", "label": false}""")));
        Assert.Equal(SourceFormat.Feedback, result.Summary.Detection.Format);
        Assert.Single(result.Accepted);
        Assert.Equal(["mixed_format", "invalid_prompt"], result.Rejected.Select(r => r.Rejection.Code));
    }

    [Fact]
    public async Task A_prompt_alone_is_a_prompts_record_for_the_recipes_that_answer_it()
    {
        var r = await OnlyRecord("""{"prompt": "Summarise the ticket."}""");
        Assert.Equal(RecordKind.Prompt, r.Kind);
        Assert.Equal([M("user", "Summarise the ticket.")], r.Messages);
        var chat = await OnlyRecord(
            """{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}""");
        Assert.Equal([M("system", "s"), M("user", "u")], chat.Messages);

        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "p.jsonl", Jsonl(
            """{"prompt": "a"}""",
            """{"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}]}""",
            """{"prompt": "q", "completion": "c"}""")));
        Assert.Equal(SourceFormat.Prompts, result.Summary.Detection.Format);
        Assert.Single(result.Accepted);
        Assert.Equal(["invalid_prompt", "mixed_format"], result.Rejected.Select(x => x.Rejection.Code));
    }

    [Fact]
    public async Task Text_records_come_from_a_text_field_or_one_per_non_empty_line_of_a_txt_file()
    {
        Assert.Equal("doc one", (await OnlyRecord("""{"text": "doc one"}""")).Text);
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "corpus.txt", "first line\n\n  \nsecond {not json}\r\n"));
        Assert.Equal(["first line", "second {not json}"], result.Accepted.Select(a => a.Record.Text));
        Assert.Equal([1L, 4L], result.Accepted.Select(a => a.Record.Line));
        Assert.Equal(2, result.Summary.BlankLines);
        Assert.Equal(SourceFormat.Text, result.Summary.Detection.Format);
    }

    [Fact]
    public async Task Csv_with_a_header_reads_quoted_commas_doubled_quotes_and_embedded_newlines()
    {
        using var dir = new TempDir();
        var csv = "instruction,input,output\r\n\"Sum, please\",\"1\r\n2\",\"He said \"\"3\"\"\"\r\nplain,,x\r\n";
        var result = await ReadAsync(Write(dir, "d.csv", csv));
        Assert.Empty(result.Rejected);
        Assert.Equal(new Detection(ContainerKind.Csv, SourceFormat.Alpaca, false, 1), result.Summary.Detection);
        Assert.Equal([M("user", "Sum, please\n\n1\r\n2"), M("assistant", "He said \"3\"")],
            result.Accepted[0].Record.Messages);
        Assert.Equal([1L, 2L], result.Accepted.Select(a => a.Record.Line));
    }

    [Fact]
    public async Task Csv_rows_with_the_wrong_field_count_or_bad_quoting_are_rejected_by_row()
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.csv", "prompt,completion\na,b\na,b,c\n\"a\"x,b\nc,d\n"));
        Assert.Equal([2L, 3L], result.Rejected.Select(r => r.Rejection.Line));
        Assert.All(result.Rejected, r => Assert.Equal("invalid_csv", r.Rejection.Code));
        Assert.Equal(2, result.Accepted.Count);
    }

    [Fact]
    public async Task Csv_cells_holding_a_json_message_list_are_read_as_chat()
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.tsv",
            "messages\tlabel\n[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]\tgreeting\n"));
        var r = Assert.Single(result.Accepted).Record;
        Assert.Equal([M("user", "q"), M("assistant", "a")], r.Messages);
        Assert.Equal("greeting", r.Label);
    }

    [Theory]
    [InlineData("d.jsonl.gz", ContainerKind.Jsonl)]
    [InlineData("d.json.gz", ContainerKind.JsonArray)]
    [InlineData("d.csv.gz", ContainerKind.Csv)]
    [InlineData("upload.bin", ContainerKind.Jsonl)]
    public async Task Gzip_is_detected_by_magic_bytes_for_any_container(string name, ContainerKind container)
    {
        var text = container switch
        {
            ContainerKind.JsonArray => $"[{Chat()},{Chat()}]",
            ContainerKind.Csv => "prompt,completion\nq,a\nq2,a2\n",
            _ => Jsonl(Chat(), Chat()),
        };
        using var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest))
            zip.Write(Encoding.UTF8.GetBytes(text));
        using var dir = new TempDir();
        var path = Write(dir, name, gz.ToArray());
        var detection = await DatasetReader.DetectAsync(path);
        Assert.True(detection.Gzip);
        Assert.Equal(container, detection.Container);
        var result = await ReadAsync(path);
        Assert.Equal(2, result.Accepted.Count);
        Assert.Empty(result.Rejected);
    }

    [Fact]
    public async Task A_declared_format_overrides_detection_and_other_formats_become_mixed_format()
    {
        using var dir = new TempDir();
        var path = Write(dir, "d.jsonl", Jsonl("""{"text": "t"}""", """{"prompt": "p", "completion": "c"}"""));
        Assert.Equal(SourceFormat.Text, (await DatasetReader.DetectAsync(path)).Format);
        var result = await ReadAsync(path, new ReadOptions { Format = SourceFormat.PromptCompletion });
        Assert.Equal(1, result.Single("mixed_format").Line);
        Assert.Contains("as declared", result.Rejected[0].Rejection.Reason);
        Assert.Equal(2, Assert.Single(result.Accepted).Record.Line);
    }

    [Fact]
    public async Task Detection_skips_broken_leading_records_and_guesses_chat_when_nothing_is_known()
    {
        using var dir = new TempDir();
        var late = Write(dir, "late.jsonl", Jsonl("oops", "42", """{"instruction": "i", "output": "o"}"""));
        Assert.Equal(new Detection(ContainerKind.Jsonl, SourceFormat.Alpaca, false, 3),
            await DatasetReader.DetectAsync(late));
        var unknown = Write(dir, "unknown.jsonl", Jsonl("""{"foo": 1}"""));
        Assert.Equal(new Detection(ContainerKind.Jsonl, SourceFormat.Chat, false, null, FormatGuessed: true),
            await DatasetReader.DetectAsync(unknown));
    }
}
