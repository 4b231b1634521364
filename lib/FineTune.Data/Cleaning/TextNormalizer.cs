// The character-level cleaning steps (Unicode normalization, control characters, whitespace) and the
// normalised "key text" that de-duplication and split assignment hash.
using System.Text;

namespace FineTune.Data.Cleaning;

internal static class TextNormalizer
{
    public static string Normalize(string text, UnicodeNormalization form)
    {
        if (form == UnicodeNormalization.None)
            return text;
        var nf = form == UnicodeNormalization.NFKC ? NormalizationForm.FormKC : NormalizationForm.FormC;
        // string.Normalize throws on lone surrogates; they carry no text, so they become U+FFFD first.
        var valid = HasLoneSurrogate(text) ? ReplaceLoneSurrogates(text) : text;
        return valid.IsNormalized(nf) ? valid : valid.Normalize(nf);
    }

    public static string RemoveControlCharacters(string text)
    {
        var i = 0;
        while (i < text.Length && (!char.IsControl(text[i]) || text[i] is '\n' or '\t'))
            i++;
        if (i == text.Length)
            return text;

        var sb = new StringBuilder(text.Length);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\r')
            {
                sb.Append('\n');
                if (i + 1 < text.Length && text[i + 1] == '\n')
                    i++;
            }
            else if (!char.IsControl(c) || c is '\n' or '\t')
                sb.Append(c);
        }
        return sb.ToString();
    }

    public static string NormalizeWhitespace(string text)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        var sb = new StringBuilder(text.Length);
        var newlines = 0;
        foreach (var line in lines)
        {
            var cleaned = CollapseLine(line);
            if (cleaned.Length == 0)
            {
                newlines++;
                continue;
            }
            if (sb.Length > 0)
                sb.Append('\n', Math.Min(newlines + 1, 2));
            sb.Append(cleaned);
            newlines = 0;
        }
        return sb.ToString().Trim();
    }

    /// <summary>Keeps the leading indentation, collapses inner runs of horizontal whitespace to one space, trims the
    /// end.</summary>
    static string CollapseLine(string line)
    {
        var indent = 0;
        while (indent < line.Length && char.IsWhiteSpace(line[indent]))
            indent++;
        if (indent == line.Length)
            return "";
        var sb = new StringBuilder(line.Length);
        sb.Append(line, 0, indent);
        var pendingSpace = false;
        for (var i = indent; i < line.Length; i++)
        {
            if (char.IsWhiteSpace(line[i]))
            {
                pendingSpace = true;
                continue;
            }
            if (pendingSpace)
                sb.Append(' ');
            pendingSpace = false;
            sb.Append(line[i]);
        }
        return sb.ToString();
    }

    /// <summary>NFKC, lower-case (invariant), every whitespace run one space, trimmed: spacing and case do not
    /// matter.</summary>
    public static string KeyText(string text)
    {
        var folded = Normalize(text, UnicodeNormalization.NFKC).ToLowerInvariant();
        var sb = new StringBuilder(folded.Length);
        var pendingSpace = false;
        foreach (var c in folded)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                pendingSpace = sb.Length > 0;
                continue;
            }
            if (pendingSpace)
                sb.Append(' ');
            pendingSpace = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Words for shingling: NFKC, lower-case, runs of letters and digits (punctuation and spacing
    /// ignored).</summary>
    public static void AppendWords(string text, List<string> words)
    {
        var folded = Normalize(text, UnicodeNormalization.NFKC).ToLowerInvariant();
        var start = -1;
        for (var i = 0; i <= folded.Length; i++)
        {
            var isWord = i < folded.Length && (char.IsLetterOrDigit(folded[i]) || char.IsSurrogate(folded[i]));
            if (isWord && start < 0)
                start = i;
            else if (!isWord && start >= 0)
            {
                words.Add(folded[start..i]);
                start = -1;
            }
        }
    }

    static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            if (char.IsSurrogate(text[i]))
                return true;
        }
        return false;
    }

    static string ReplaceLoneSurrogates(string text)
    {
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
                continue;
            }
            if (char.IsSurrogate(chars[i]))
                chars[i] = '\uFFFD';
        }
        return new string(chars);
    }
}
