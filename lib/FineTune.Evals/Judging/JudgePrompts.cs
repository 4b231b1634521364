// Judge prompts: single-answer grading on a rubric with a JSON {"score", "reasons"} reply, and pairwise comparison with
// a JSON {"winner": "1"|"2"|"tie", "reasons"} reply. Positions are numbered so that swapping orders is explicit.
using System.Globalization;
using System.Text;

namespace FineTune.Evals.Judging;

internal static class JudgePrompts
{
    const string System =
        "You are an impartial expert judge of AI assistant responses. Judge only what is asked, ignore response " +
            "length " +
        "and style unless the criteria mention them, and reply with a single JSON object and nothing else.";

    public static string SystemPrompt => System;

    public static string Grade(Rubric rubric, GradeRequest item)
    {
        var sb = new StringBuilder();
        sb.AppendLine("Grade the response to the user's question.").AppendLine();
        sb.AppendLine("[Criteria]").AppendLine(rubric.Text).AppendLine();
        sb.AppendLine("[Question]").AppendLine(item.Prompt).AppendLine();
        if (item.Reference is not null)
            sb.AppendLine("[Reference answer]").AppendLine(item.Reference).AppendLine();
        sb.AppendLine("[Response]").AppendLine(item.Answer).AppendLine();
        sb.Append(CultureInfo.InvariantCulture,
            $"Reply with JSON only: {{\"score\": <number from {rubric.Min:0.###} to {rubric.Max:0.###}>, " +
                $"\"reasons\": \"<one short paragraph>\"}}");
        return sb.ToString();
    }

    public static string Compare(Rubric rubric, string prompt, string? reference, string first, string second)
    {
        var sb = new StringBuilder();
        sb.AppendLine("Compare two responses to the user's question and decide which is better.").AppendLine();
        sb.AppendLine("[Criteria]").AppendLine(rubric.Text).AppendLine();
        sb.AppendLine("[Question]").AppendLine(prompt).AppendLine();
        if (reference is not null)
            sb.AppendLine("[Reference answer]").AppendLine(reference).AppendLine();
        sb.AppendLine("[Response 1]").AppendLine(first).AppendLine();
        sb.AppendLine("[Response 2]").AppendLine(second).AppendLine();
        sb.Append("Reply with JSON only: {\"winner\": \"1\" | \"2\" | \"tie\", \"reasons\": \"<one short " +
            "paragraph>\"}");
        return sb.ToString();
    }

    public static string Correction(string error) =>
        $"Your previous reply could not be used ({error}). Reply again with only the JSON object described above.";
}
