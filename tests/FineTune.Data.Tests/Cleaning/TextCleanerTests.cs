// TextCleaner: each step on its own, the fields it touches, rejections, and the counters it reports.
using System.Text.Json;
using FineTune.Data.Cleaning;
using static FineTune.Data.Tests.Cleaning.TestRecords;

namespace FineTune.Data.Tests.Cleaning;

public class TextCleanerTests
{
    static readonly PiiOptions NoPii = new()
    {
        Email = false, Phone = false, CreditCard = false, IpAddress = false,
        Iban = false
    };

    static string CleanText(string text, CleaningOptions options)
    {
        var result = new TextCleaner(options).Clean(TextRecord(1, text));
        Assert.True(result.IsKept, result.Rejection?.Reason);
        return result.Record.Text!;
    }

    [Fact]
    public void NFC_composes_and_NFKC_also_folds_compatibility_forms()
    {
        const string input = "Cafe\u0301 \uFB01le \uFF21\uFF22";   // decomposed é, "ﬁ" ligature, full-width AB
        Assert.Equal("Caf\u00E9 \uFB01le \uFF21\uFF22",
            CleanText(input, new CleaningOptions { Normalization = UnicodeNormalization.NFC }));
        Assert.Equal("Caf\u00E9 file AB",
            CleanText(input, new CleaningOptions { Normalization = UnicodeNormalization.NFKC }));
        Assert.Equal(input, CleanText(input, new CleaningOptions { Normalization = UnicodeNormalization.None }));
    }

    [Fact]
    public void Removes_control_characters_but_keeps_newlines_and_tabs()
    {
        var options = new CleaningOptions { NormalizeWhitespace = false };
        Assert.Equal("a\tb\nc\nd", CleanText("a\u0000\tb\r\nc\u0007\rd\u001b", options));
    }

    [Fact]
    public void Normalizes_whitespace_but_keeps_indentation()
    {
        Assert.Equal("a b c\n\nd\n    indented x",
            CleanText("  a   b\t\tc  \n\n\n\n\nd\n    indented  \t x  \n\n", new CleaningOptions()));
    }

    [Fact]
    public void Strips_html_tags_scripts_and_entities_when_asked()
    {
        const string html = "<html><head><style>p{color:red}</style><script>alert('x<y')</script></head>" +
                            "<body><p>Fish &amp; chips&nbsp;&lt;3</p><!-- hidden --><br/>Price: 5&#8364;</body></html>";
        Assert.Equal("Fish & chips <3\n\nPrice: 5€", CleanText(html, new CleaningOptions { StripHtml = true }));
        Assert.Contains("<p>", CleanText(html, new CleaningOptions()));
    }

    [Fact]
    public void Cleans_every_message_of_a_preference_record_and_leaves_roles_alone()
    {
        var record = new DataRecord
        {
            Kind = RecordKind.Preference, Line = 7,
            Messages = [new Message("user", "mail  me at a@b.com")],
            Chosen = [new Message("assistant", "ok\u0000 ")],
            Rejected = [new Message("assistant", "  no")],
        };
        var result = new TextCleaner().Clean(record);
        Assert.True(result.IsKept);
        Assert.Equal("mail me at [EMAIL]", result.Record.Messages[0].Content);
        Assert.Equal("ok", result.Record.Chosen![0].Content);
        Assert.Equal("no", result.Record.Rejected![0].Content);
        Assert.Equal(["user", "assistant", "assistant"],
            [result.Record.Messages[0].Role, result.Record.Chosen[0].Role, result.Record.Rejected[0].Role]);
    }

    [Fact]
    public void Rejects_records_that_become_empty_or_break_the_length_bounds()
    {
        var cleaner = new TextCleaner(new CleaningOptions { StripHtml = true, MinChars = 5, MaxChars = 20 });
        var empty = cleaner.Clean(Chat(3, "hello", "<br>\u0000 "));
        Assert.False(empty.IsKept);
        Assert.Equal(("missing_content", 3L, "messages[1].content"),
            (empty.Rejection.Code, empty.Rejection.Line, empty.Rejection.Field));
        Assert.Equal("<br>\u0000 ",
            JsonDocument.Parse(empty.Rejection.Raw).RootElement.GetProperty("messages")[1].GetProperty("content")
            .GetString());

        Assert.Equal("too_short", cleaner.Clean(Chat(4, "hi", "yo")).Rejection?.Code);
        Assert.Equal("too_long_chars", cleaner.Clean(Chat(5, "a long question here", "and an answer")).Rejection?.Code);
        Assert.True(cleaner.Clean(Chat(6, "hello", "there")).IsKept);
        Assert.Equal(new Dictionary<string, long>
        {
            ["missing_content"] = 1, ["too_long_chars"] = 1,
            ["too_short"] = 1
        }, cleaner.Stats.Rejected);
    }

    [Fact]
    public void Counts_changes_per_step_and_redactions_per_type()
    {
        var cleaner = new TextCleaner();
        // pii 1 field/2 emails; whitespace 2 fields
        cleaner.Clean(Chat(1, "write to x@y.com  or y@z.org", "ok  then"));
        cleaner.Clean(Chat(2, "Cafe\u0301", "fine"));                          // normalization 1 field
        cleaner.Clean(Chat(3, "clean", "already"));                            // nothing
        var stats = cleaner.Stats;
        Assert.Equal((3L, 3L, 2L), (stats.Records, stats.Kept, stats.Changed));
        Assert.Equal(new StepCount(1, 2), stats.Step(CleaningStep.Whitespace));
        Assert.Equal(new StepCount(1, 1), stats.Step(CleaningStep.Pii));
        Assert.Equal(new StepCount(1, 1), stats.Step(CleaningStep.UnicodeNormalization));
        Assert.Equal(2, stats.Redacted(PiiType.Email));

        var json = JsonDocument.Parse(stats.ToJson()).RootElement;
        Assert.Equal(2, json.GetProperty("pii_redacted").GetProperty("email").GetInt64());
        Assert.Equal(2, json.GetProperty("steps").GetProperty("whitespace").GetProperty("fields").GetInt64());
    }
}
