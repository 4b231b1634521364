// Porter (1980) suffix stripping in NLTK's default NLTK_EXTENSIONS mode: rouge_score builds nltk's PorterStemmer()
// with no mode argument, so its --stemmer scores depend on these extensions (irregular-form pool, 'ies'/'ied' on
// four-letter words, y->i only after a consonant, 'alli' first, 'fulli', the Wilkins 'logi' rule, short-word *o).
namespace FineTune.Evals.Scoring;

/// <summary>NLTK's PorterStemmer in NLTK_EXTENSIONS mode (the mode rouge_score uses). Input should be lower
/// case.</summary>
public static class PorterStemmer
{
    static readonly Dictionary<string, string> Pool = new(StringComparer.Ordinal)
    {
        ["sky"] = "sky", ["skies"] = "sky", ["dying"] = "die", ["lying"] = "lie", ["tying"] = "tie",
        ["news"] = "news", ["innings"] = "inning", ["inning"] = "inning", ["outings"] = "outing",
        ["outing"] = "outing", ["cannings"] = "canning", ["canning"] = "canning", ["howe"] = "howe",
        ["proceed"] = "proceed", ["exceed"] = "exceed", ["succeed"] = "succeed",
    };

    /// <summary>One suffix rule: strip Suffix ("*d" = a double consonant), append Replacement when Condition(stem)
    /// holds.</summary>
    readonly record struct Rule(string Suffix, string Replacement, Func<string, bool>? Condition);

    /// <summary>Stems one word (lower-cased first, as nltk's stem(word) does by default).</summary>
    public static string Stem(string word)
    {
        var stem = word.ToLowerInvariant();
        if (Pool.TryGetValue(word, out var irregular))
            return irregular;
        if (word.Length <= 2)
            return stem;
        stem = Step1a(stem);
        stem = Step1b(stem);
        stem = Step1c(stem);
        stem = Step2(stem);
        stem = Step3(stem);
        stem = Step4(stem);
        stem = Step5a(stem);
        return Step5b(stem);
    }

    static bool IsConsonant(string w, int i)
    {
        // 'y' is a consonant at the start of the word or after a vowel.
        var c = w[i];
        if (c is 'a' or 'e' or 'i' or 'o' or 'u')
            return false;
        if (c != 'y')
            return true;
        return i == 0 || !IsConsonant(w, i - 1);
    }

    /// <summary>Porter's m: the number of vowel-consonant boundaries in the stem.</summary>
    static int Measure(string stem)
    {
        int m = 0;
        var prevVowel = false;
        for (int i = 0; i < stem.Length; i++)
        {
            var consonant = IsConsonant(stem, i);
            if (consonant && prevVowel)
                m++;
            prevVowel = !consonant;
        }
        return m;
    }

    static bool Positive(string stem) => Measure(stem) > 0;
    static bool MeasureGt1(string stem) => Measure(stem) > 1;

    static bool ContainsVowel(string stem)
    {
        for (int i = 0; i < stem.Length; i++)
            if (!IsConsonant(stem, i))
                return true;
        return false;
    }

    static bool EndsDoubleConsonant(string w) =>
        w.Length >= 2 && w[^1] == w[^2] && IsConsonant(w, w.Length - 1);

    /// <summary>*o: ends consonant-vowel-consonant, last not w/x/y; NLTK also accepts a two-letter vowel-consonant
    /// word.</summary>
    static bool EndsCvc(string w) =>
        (w.Length >= 3 && IsConsonant(w, w.Length - 3) && !IsConsonant(w, w.Length - 2)
            && IsConsonant(w, w.Length - 1) && w[^1] is not ('w' or 'x' or 'y'))
        || (w.Length == 2 && !IsConsonant(w, 0) && IsConsonant(w, 1));

    /// <summary>The first rule whose suffix matches decides: applied if its condition holds, else the word is
    /// kept.</summary>
    static string ApplyRules(string word, IEnumerable<Rule> rules)
    {
        foreach (var rule in rules)
        {
            string stem;
            if (rule.Suffix == "*d")
            {
                if (!EndsDoubleConsonant(word))
                    continue;
                stem = word[..^2];
            }
            else if (word.EndsWith(rule.Suffix, StringComparison.Ordinal))
                stem = word[..^rule.Suffix.Length];
            else
                continue;
            return rule.Condition is null || rule.Condition(stem) ? stem + rule.Replacement : word;
        }
        return word;
    }

    static string Step1a(string w)
    {
        if (w.Length == 4 && w.EndsWith("ies", StringComparison.Ordinal))
            return w[..^3] + "ie";
        return ApplyRules(w,
            [new("sses", "ss", null), new("ies", "i", null), new("ss", "ss", null), new("s", "", null)]);
    }

    static string Step1b(string w)
    {
        if (w.EndsWith("ied", StringComparison.Ordinal))
            return w[..^3] + (w.Length == 4 ? "ie" : "i");
        if (w.EndsWith("eed", StringComparison.Ordinal))
            return Positive(w[..^3]) ? w[..^3] + "ee" : w;
        string? mid = null;
        foreach (var suffix in (string[])["ed", "ing"])
            if (w.EndsWith(suffix, StringComparison.Ordinal) && ContainsVowel(w[..^suffix.Length]))
            {
                mid = w[..^suffix.Length];
                break;
            }
        if (mid is null)
            return w;
        var last = mid[^1];
        return ApplyRules(mid,
        [
            new("at", "ate", null), new("bl", "ble", null), new("iz", "ize", null),
            new("*d", last.ToString(), _ => last is not ('l' or 's' or 'z')),
            new("", "e", s => Measure(s) == 1 && EndsCvc(s)),
        ]);
    }

    static string Step1c(string w) =>
        ApplyRules(w, [new("y", "i", s => s.Length > 1 && IsConsonant(s, s.Length - 1))]);

    static string Step2(string w)
    {
        if (w.EndsWith("alli", StringComparison.Ordinal) && Positive(w[..^4]))
            return Step2(w[..^4] + "al");
        return ApplyRules(w,
        [
            new("ational", "ate", Positive), new("tional", "tion", Positive), new("enci", "ence", Positive),
            new("anci", "ance", Positive), new("izer", "ize", Positive), new("bli", "ble", Positive),
            new("alli", "al", Positive), new("entli", "ent", Positive), new("eli", "e", Positive),
            new("ousli", "ous", Positive), new("ization", "ize", Positive), new("ation", "ate", Positive),
            new("ator", "ate", Positive), new("alism", "al", Positive), new("iveness", "ive", Positive),
            new("fulness", "ful", Positive), new("ousness", "ous", Positive), new("aliti", "al", Positive),
            new("iviti", "ive", Positive), new("biliti", "ble", Positive), new("fulli", "ful", Positive),
            // Wilkins: the 'l' of 'logi' stays with the stem when measuring, so 'geo'/'theo' stems qualify.
            new("logi", "log", _ => Positive(w[..^3])),
        ]);
    }

    static string Step3(string w) => ApplyRules(w,
    [
        new("icate", "ic", Positive), new("ative", "", Positive), new("alize", "al", Positive),
        new("iciti", "ic", Positive), new("ical", "ic", Positive), new("ful", "", Positive), new("ness", "", Positive),
    ]);

    static string Step4(string w) => ApplyRules(w,
    [
        new("al", "", MeasureGt1), new("ance", "", MeasureGt1), new("ence", "", MeasureGt1), new("er", "", MeasureGt1),
        new("ic", "", MeasureGt1), new("able", "", MeasureGt1), new("ible", "", MeasureGt1), new("ant", "", MeasureGt1),
        new("ement", "", MeasureGt1), new("ment", "", MeasureGt1), new("ent", "", MeasureGt1),
        new("ion", "", s => Measure(s) > 1 && s[^1] is 's' or 't'),
        new("ou", "", MeasureGt1), new("ism", "", MeasureGt1), new("ate", "", MeasureGt1), new("iti", "", MeasureGt1),
        new("ous", "", MeasureGt1), new("ive", "", MeasureGt1), new("ize", "", MeasureGt1),
    ]);

    static string Step5a(string w)
    {
        // Both 'e' rules are tried (unlike ApplyRules): (m>1) E -> ; (m=1 and not *o) E -> .
        if (!w.EndsWith('e'))
            return w;
        var stem = w[..^1];
        var m = Measure(stem);
        return m > 1 || (m == 1 && !EndsCvc(stem)) ? stem : w;
    }

    static string Step5b(string w) => ApplyRules(w, [new("ll", "l", _ => Measure(w[..^1]) > 1)]);
}
