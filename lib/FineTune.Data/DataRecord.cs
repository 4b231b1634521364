// The one normalised record every data stage works on, whatever format it came from, and what a rejected record
// carries. Written to train/validation/test.jsonl as documented in docs/data-format.md.
namespace FineTune.Data;

/// <summary>Chat: a conversation. Preference: a prompt with a chosen and a rejected answer. Feedback: a prompt with one
/// answer rated desirable or not (KTO's unpaired thumbs up/down). Text: a document. Prompt: a prompt alone, for the
/// recipes that answer it themselves (GRPO, PPO).</summary>
public enum RecordKind { Chat, Preference, Text, Feedback, Prompt }

/// <summary>A chat turn. Role is system, user or assistant; Weight 0 excludes an assistant turn from the
/// loss.</summary>
public sealed record Message(string Role, string Content, double? Weight = null);

public sealed record DataRecord
{
    public required RecordKind Kind { get; init; }

    /// <summary>Where the record came from: 1-based line (JSONL), element (JSON array), data row (CSV) or row (Parquet)
    /// of the source.</summary>
    public required long Line { get; init; }

    /// <summary>Chat: the conversation. Preference, feedback and prompt: the prompt (ending with a user
    /// turn).</summary>
    public IReadOnlyList<Message> Messages { get; init; } = [];

    /// <summary>Preference: the preferred and the dispreferred continuation (assistant turns). Feedback: Chosen holds
    /// the rated answer, whichever way it was rated (see Desirable).</summary>
    public IReadOnlyList<Message>? Chosen { get; init; }
    public IReadOnlyList<Message>? Rejected { get; init; }

    /// <summary>Feedback only: true for a thumbs up (desirable), false for a thumbs down.</summary>
    public bool? Desirable { get; init; }

    /// <summary>Text only: a document for continued pre-training.</summary>
    public string? Text { get; init; }

    /// <summary>A label or category field of the source, when it had one (for balancing and the data card).</summary>
    public string? Label { get; init; }
}

/// <summary>
/// A record that did not make it, with the reason. Code uses OpenAI's fine-tuning check names where one applies
/// (data_type, missing_messages_list, message_missing_key, message_unrecognized_key, unrecognized_role,
/// missing_content, example_missing_assistant_message) and our own snake_case names otherwise.
/// </summary>
public sealed record Rejection(long Line, string Code, string Reason, string Raw, string? Field = null)
{
    /// <summary>How the raw text was kept: as read, redacted, or withheld (only its length and hash).</summary>
    public RawKept Kept { get; init; } = RawKept.AsRead;
    /// <summary>When withheld: the raw text's length in UTF-8 bytes and its SHA-256, enough to match it in the
    /// source.</summary>
    public long? RawBytes { get; init; }
    public string? RawSha256 { get; init; }
}

/// <summary>AsRead: the record's text unchanged (redaction off, or keep_raw_rejects). Redacted: PII placeholders in its
/// strings. Withheld: the text could not be redacted safely (not JSON, not UTF-8), so only its length and hash are
/// kept. Unredacted: keep_raw_rejects with text that could not be redacted: a clipped prefix, marked as such.</summary>
public enum RawKept { AsRead, Redacted, Withheld, Unredacted }

/// <summary>Source layouts; Auto detects from the first records.</summary>
public enum SourceFormat { Auto, Alpaca, PromptCompletion, Chat, ShareGpt, Preference, Text, Feedback, Prompts }

/// <summary>Thrown when a whole input cannot be used (not one record): unreadable encoding, no records, too many
/// rejects.</summary>
public sealed class InvalidDatasetException(string message) : Exception(message);
