// What sacrebleu's metrics take from Python's str: its whitespace set (str.split, str.rstrip) and 13a tokenization
// (mteval-v13a.pl, as sacrebleu's tokenizer_13a.py and tokenizer_re.py apply it).
using System.Text;
using System.Text.RegularExpressions;

namespace FineTune.Evals.Scoring;

public static partial class SacreBleuText
{
    /// <summary>The sacrebleu release whose BLEU and chrF these scorers reproduce (shown in the signatures).</summary>
    public const string Version = "2.6.0";

    /// <summary>Python's str.isspace: .NET's white space plus the separators U+001C–U+001F.</summary>
    public static bool IsWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    /// <summary>str.split(): the runs of non-whitespace.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool space = i == text.Length || IsWhiteSpace(text[i]);
            if (!space && start < 0)
                start = i;
            else if (space && start >= 0)
            {
                parts.Add(text[start..i]);
                start = -1;
            }
        }
        return parts;
    }

    /// <summary>str.rstrip().</summary>
    public static string TrimEnd(string text)
    {
        int end = text.Length;
        while (end > 0 && IsWhiteSpace(text[end - 1]))
            end--;
        return text[..end];
    }

    /// <summary>
    /// The 13a tokenizer: drops "&lt;skipped&gt;", joins "-\n" hyphenation, newlines become spaces, four HTML entities
    /// are unescaped once (&amp;quot; first), then punctuation and symbols are split off (periods and commas only
    /// where not between digits, a dash only after a digit) and whitespace is collapsed.
    /// </summary>
    public static string Tokenize13a(string line)
    {
        line = line.Replace("<skipped>", "").Replace("-\n", "").Replace("\n", " ");
        if (line.Contains('&'))
            line = line.Replace("&quot;", "\"").Replace("&amp;", "&").Replace("&lt;", "<").Replace("&gt;", ">");
        line = " " + line + " ";
        line = Symbols().Replace(line, " $1 ");
        line = PeriodCommaAfterNonDigit().Replace(line, "$1 $2 ");
        line = PeriodCommaBeforeNonDigit().Replace(line, " $1 $2");
        line = DashAfterDigit().Replace(line, "$1 $2 ");
        return string.Join(' ', Split(line));
    }

    /// <summary>The text without any whitespace, as code points (chrF counts characters, not UTF-16 units).</summary>
    public static (string Text, int[] Starts) CodePoints(string text)
    {
        var compact = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (!IsWhiteSpace(c))
                compact.Append(c);
        }
        var result = compact.ToString();
        var starts = new List<int>(result.Length + 1);
        for (int i = 0; i < result.Length; i++)
        {
            if (!(char.IsLowSurrogate(result[i]) && i > 0 && char.IsHighSurrogate(result[i - 1])))
                starts.Add(i);
        }
        starts.Add(result.Length);
        return (result, starts.ToArray());
    }

    [GeneratedRegex(@"([\{-\~\[-\` -\&\(-\+\:-\@\/])", RegexOptions.CultureInvariant)]
    private static partial Regex Symbols();

    [GeneratedRegex(@"([^0-9])([\.,])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaAfterNonDigit();

    [GeneratedRegex(@"([\.,])([^0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaBeforeNonDigit();

    [GeneratedRegex(@"([0-9])(-)", RegexOptions.CultureInvariant)]
    private static partial Regex DashAfterDigit();
}
