// GSM8K answer extraction and exact-match normalisation exactly as lm-evaluation-harness's gsm8k (v3) and gsm8k_cot
// tasks configure them (strict-match / flexible-extract filters, exact_match with ignore_case and regexes_to_ignore),
// so accuracies computed from saved outputs match the harness's.
using System.Text.RegularExpressions;

namespace FineTune.Evals.Scoring;

/// <summary>Which strict-match rule applies: gsm8k's "#### N" or gsm8k_cot's "The answer is N.".</summary>
public enum Gsm8kFormat { Gsm8k, Cot }

public static partial class Gsm8kAnswers
{
    // gsm8k.yaml strict-match: "#### (\-?[0-9\.\,]+)", first match.
    [GeneratedRegex(@"#### (\-?[0-9\.\,]+)", RegexOptions.CultureInvariant)]
    private static partial Regex StrictHashes();

    // gsm8k-cot.yaml strict-match: "The answer is (\-?[0-9\.\,]+)." — the final '.' is any character but '\n', so at
    // the very end of the text "The answer is 42" gives "4" and "The answer is 7" nothing (as in the harness).
    [GeneratedRegex(@"The answer is (\-?[0-9\.\,]+).", RegexOptions.CultureInvariant)]
    private static partial Regex StrictCot();

    // flexible-extract (both tasks): "(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select -1 = the last match.
    [GeneratedRegex(@"(-?[$0-9.,]{2,})|(-?[0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex Flexible();

    // exact_match regexes_to_ignore, removed in this order from both sides before the case-insensitive comparison.
    static readonly Regex[] Ignore =
    [
        new(",", RegexOptions.CultureInvariant), new(@"\$", RegexOptions.CultureInvariant),
        new("(?s).*#### ", RegexOptions.CultureInvariant), new(@"\.$", RegexOptions.CultureInvariant),
    ];

    /// <summary>
    /// The strict-match and flexible-extract answers of a model output; null where the harness's filter finds no match
    /// (it then substitutes "[invalid]", which never equals a gold number).
    /// </summary>
    public static (string? Strict, string? Flexible) Extract(string text, Gsm8kFormat format)
    {
        var strictRegex = format == Gsm8kFormat.Cot ? StrictCot() : StrictHashes();
        var strict = strictRegex.Match(text);
        var matches = Flexible().Matches(text);
        string? flexible = null;
        if (matches.Count > 0)
        {
            // Python findall returns a tuple of groups per match; the harness takes its first non-empty group.
            var last = matches[^1];
            flexible = (last.Groups[1].Success && last.Groups[1].Length > 0 ? last.Groups[1].Value
                : last.Groups[2].Value).Trim();
        }
        return (strict.Success ? strict.Groups[1].Value.Trim() : null, flexible);
    }

    /// <summary>exact_match after the harness's normalisation; a missing extraction is never correct.</summary>
    public static bool IsCorrect(string? extracted, string gold) =>
        extracted is not null && string.Equals(Normalize(extracted), Normalize(gold), StringComparison.Ordinal);

    /// <summary>Removes ",", "$", everything through the last "#### ", a final "." (in that order), then
    /// lower-cases.</summary>
    public static string Normalize(string text)
    {
        foreach (var regex in Ignore)
            text = regex.Replace(text, "");
        return text.ToLowerInvariant();
    }

    /// <summary>The gold answer of a GSM8K "answer" field: the text after its last "####", trimmed.</summary>
    public static string Gold(string answerField)
    {
        var at = answerField.LastIndexOf("####", StringComparison.Ordinal);
        if (at < 0)
            throw new FormatException("GSM8K answer has no \"####\" line.");
        return answerField[(at + 4)..].Trim();
    }
}
