// OpenAI's fine-tuning file checks and our own per-record codes, one bad record each, with the reason naming the field.
using static FineTune.Data.Tests.Ingestion.Ingest;

namespace FineTune.Data.Tests.Ingestion;

public sealed class ChatValidationTests
{
    static async Task<Rejection> RejectionOf(string record, string first = "")
    {
        using var dir = new TempDir();
        var result = await ReadAsync(Write(dir, "d.jsonl", Jsonl(first == "" ? Chat() : first, record)));
        var rejected = Assert.Single(result.Rejected).Rejection;
        Assert.Equal(2, rejected.Line);
        return rejected;
    }

    [Theory]
    [InlineData("""{"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}""", "message_missing_key",
        "messages[0]: missing 'content'")]
    [InlineData(
        """{"messages": [{"role": "user", "content": "q", "tool": 1}, {"role": "assistant", "content": "a"}]}""",
        "message_unrecognized_key", "messages[0]: unrecognized key 'tool'")]
    [InlineData("""{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "bot", "content": "x"}]}""", "unrecognized_role", "messages[2].role: 'bot' is not one of system, user, assistant")]
    [InlineData("""{"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "a"}]}""",
        "missing_content", "messages[0].content: empty")]
    [InlineData("""{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}""",
        "missing_content", "messages[0].content: expected text, got a number")]
    [InlineData("""{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0.5}]}""", "invalid_weight", "messages[1].weight: expected 0 or 1, got 0.5")]
    [InlineData("""{"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}]}""", "invalid_weight", "only allowed on assistant messages")]
    [InlineData("""{"messages": "hello"}""", "missing_messages_list",
        "messages: expected a list of messages, got a string")]
    [InlineData("""{"messages": [{"role": "user", "content": "q"}]}""", "example_missing_assistant_message",
        "no assistant message")]
    public async Task Chat_records_fail_openai_checks_with_their_code_and_a_reason_naming_the_field(string record,
        string code, string reason)
    {
        var r = await RejectionOf(record);
        Assert.Equal(code, r.Code);
        Assert.Contains(reason, r.Reason);
        Assert.Equal(record, r.Raw);
    }

    [Theory]
    [InlineData("""{"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}""",
        "unrecognized_role", "conversations[1].from: 'bot'")]
    [InlineData("""{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt"}]}""", "message_missing_key",
        "conversations[1]: missing 'value'")]
    [InlineData("""{"conversations": [{"from": "human", "value": "q"}]}""", "example_missing_assistant_message",
        "conversations")]
    public async Task ShareGpt_records_fail_with_the_same_codes(string record, string code, string reason)
    {
        var r = await RejectionOf(record,
            """{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}""");
        Assert.Equal(code, r.Code);
        Assert.Contains(reason, r.Reason);
    }

    [Theory]
    [InlineData("""{"instruction": "i"}""", "missing_field", "output: missing")]
    [InlineData("""{"instruction": "i", "output": ""}""", "missing_content", "output: empty")]
    [InlineData("""{"instruction": ["i"], "output": "o"}""", "invalid_type",
        "instruction: expected a string, got an array")]
    public async Task Alpaca_records_name_the_missing_or_wrong_field(string record, string code, string reason)
    {
        var r = await RejectionOf(record, """{"instruction": "i", "output": "o"}""");
        Assert.Equal(code, r.Code);
        Assert.Contains(reason, r.Reason);
        Assert.Equal(reason.Split(':')[0], r.Field);
    }

    [Theory]
    [InlineData("""{"prompt": "p", "chosen": "a"}""", "missing_field", "rejected: missing")]
    [InlineData("""{"prompt": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "x"}], "chosen": "a", "rejected": "b"}""", "invalid_prompt", "must end with a user turn")]
    [InlineData("""{"prompt": "p", "chosen": [{"role": "user", "content": "u"}], "rejected": "b"}""",
        "example_missing_assistant_message", "chosen: no assistant message")]
    public async Task Preference_records_need_a_user_ended_prompt_and_two_assistant_continuations(string record,
        string code, string reason)
    {
        var r = await RejectionOf(record, """{"prompt": "p", "chosen": "a", "rejected": "b"}""");
        Assert.Equal(code, r.Code);
        Assert.Contains(reason, r.Reason);
    }

    [Fact]
    public async Task A_text_record_with_blank_text_is_empty_text()
    {
        var r = await RejectionOf("""{"text": " \n "}""", """{"text": "doc"}""");
        Assert.Equal("empty_text", r.Code);
    }
}
