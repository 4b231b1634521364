// The rejection codes ingestion emits: OpenAI's fine-tuning file-check names where one applies, our own otherwise.
// Reports and rejects.jsonl carry these strings; treat them as a public, append-only vocabulary.
namespace FineTune.Data.Ingestion;

public static class RejectCodes
{
    // OpenAI fine-tuning data checks.
    public const string DataType = "data_type";                                   // the record is not a JSON object
    // chat record without a non-empty messages list
    public const string MissingMessagesList = "missing_messages_list";
    // a message lacks role/content (from/value)
    public const string MessageMissingKey = "message_missing_key";
    // a key other than role, content, weight, name
    public const string MessageUnrecognizedKey = "message_unrecognized_key";
    public const string UnrecognizedRole = "unrecognized_role";                   // role not system/user/assistant
    // content empty, whitespace or not a string
    public const string MissingContent = "missing_content";
    public const string ExampleMissingAssistantMessage = "example_missing_assistant_message";

    // Ours.
    public const string InvalidJson = "invalid_json";              // not parseable; the reason gives the position
    public const string InvalidUtf8 = "invalid_utf8";              // bytes that are not UTF-8; raw shows them as U+FFFD
    public const string InvalidCsv = "invalid_csv";                // bad quoting or a field count unlike the header's
    public const string MixedFormat = "mixed_format";              // a record of another known format than the file's
    public const string MissingField = "missing_field";            // a required field of the format is absent
    public const string InvalidType = "invalid_type";              // a field has the wrong JSON type
    // a preference prompt that does not end with a user turn
    public const string InvalidPrompt = "invalid_prompt";
    public const string IdenticalPreference = "identical_preference"; // chosen == rejected
    public const string InvalidWeight = "invalid_weight";          // weight not 0/1, or on a non-assistant message
    public const string EmptyText = "empty_text";                  // text record with empty or whitespace text
    public const string RecordTooLarge = "record_too_large";       // larger than ReadOptions.MaxRecordBytes
    // more tokens than the report's maxTokens (added by ValidationReport)
    public const string TooLong = "too_long";
}
