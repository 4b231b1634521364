// What the prompts of a dataset look like, kept in the data card (prompt_profile) so live traffic can be compared with
// what a model was trained on: prompt length in characters (log-spaced buckets), word frequencies (lower-cased runs of
// letters; the 1,000 most frequent kept), the writing scripts of their letters, and each prompt's language
// (PromptLanguage). Compare gives the drift scores: PSI of the length buckets, the Jensen–Shannon divergence of the
// words (bits, 0–1; words outside the reference's 1,000 share one bin), the total variation of the script shares and
// of the language shares (null against a card written before languages were kept), and the share of live words the
// reference never kept.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FineTune.Data.Cleaning;

public sealed record DriftScores(double LengthPsi, double WordJs, double ScriptShift, double UnseenWords,
    double? LanguageShift = null);

public sealed partial class PromptProfile
{
    /// <summary>Upper bounds (exclusive) of the length buckets in characters; the last bucket is open.</summary>
    public static readonly int[] LengthEdges = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
    public const int KeptWords = 1_000;
    static IReadOnlyList<string> ScriptNames => PromptLanguage.ScriptNames;

    public long Prompts { get; private set; }
    public long[] Lengths { get; } = new long[LengthEdges.Length + 1];
    public Dictionary<string, long> Words { get; } = new(StringComparer.Ordinal);
    /// <summary>All words counted, kept or not.</summary>
    public long WordTotal { get; private set; }
    public long[] Scripts { get; } = new long[ScriptNames.Count];
    /// <summary>Prompts per language (PromptLanguage.Detect); empty in a profile read from an older card.</summary>
    public Dictionary<string, long> Languages { get; } = new(StringComparer.Ordinal);

    public void Add(string prompt)
    {
        Prompts++;
        int bucket = Array.FindIndex(LengthEdges, edge => prompt.Length < edge);
        Lengths[bucket < 0 ? LengthEdges.Length : bucket]++;
        foreach (Match m in Word().Matches(prompt))
        {
            var word = m.Value.ToLowerInvariant();
            Words[word] = Words.GetValueOrDefault(word) + 1;
            WordTotal++;
        }
        foreach (var rune in prompt.EnumerateRunes())
            if (Rune.IsLetter(rune))
                Scripts[PromptLanguage.ScriptIndex(rune.Value)]++;
        var language = PromptLanguage.Detect(prompt);
        Languages[language] = Languages.GetValueOrDefault(language) + 1;
    }

    [GeneratedRegex(@"\p{L}+", RegexOptions.CultureInvariant)]
    private static partial Regex Word();

    /// <summary>The prompt part of a record: everything but the assistant's turns (or the text of a text record).
    /// </summary>
    public static string PromptOf(DataRecord record) => record.Messages.Count > 0
        ? string.Join("\n", record.Messages.Where(m => m.Role != "assistant").Select(m => m.Content))
        : record.Text ?? "";

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("prompts", Prompts);
        w.WriteStartArray("length_edges");
        foreach (var edge in LengthEdges)
            w.WriteNumberValue(edge);
        w.WriteEndArray();
        w.WriteStartArray("lengths");
        foreach (var n in Lengths)
            w.WriteNumberValue(n);
        w.WriteEndArray();
        w.WriteNumber("word_total", WordTotal);
        w.WriteStartObject("words");
        foreach (var (word, n) in Words.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(KeptWords))
            w.WriteNumber(word, n);
        w.WriteEndObject();
        w.WriteStartObject("scripts");
        for (int i = 0; i < ScriptNames.Count; i++)
            w.WriteNumber(ScriptNames[i], Scripts[i]);
        w.WriteEndObject();
        w.WriteStartObject("languages");
        foreach (var (language, n) in Languages.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            w.WriteNumber(language, n);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static PromptProfile Read(JsonElement e)
    {
        var p = new PromptProfile
        {
            Prompts = e.GetProperty("prompts").GetInt64(),
            WordTotal = e.GetProperty("word_total").GetInt64()
        };
        int i = 0;
        foreach (var n in e.GetProperty("lengths").EnumerateArray().Take(p.Lengths.Length))
            p.Lengths[i++] = n.GetInt64();
        foreach (var word in e.GetProperty("words").EnumerateObject())
            p.Words[word.Name] = word.Value.GetInt64();
        for (int s = 0; s < ScriptNames.Count; s++)
            p.Scripts[s] = e.GetProperty("scripts").TryGetProperty(ScriptNames[s], out var n) ? n.GetInt64() : 0;
        if (e.TryGetProperty("languages", out var languages))
            foreach (var language in languages.EnumerateObject())
                p.Languages[language.Name] = language.Value.GetInt64();
        return p;
    }

    /// <summary>How far <paramref name="live"/> has moved from this (the reference) profile.</summary>
    public DriftScores Compare(PromptProfile live)
    {
        const double Floor = 1e-4;
        double psi = 0;
        for (int b = 0; b < Lengths.Length; b++)
        {
            double r = Math.Max(Floor, Share(Lengths[b], Prompts)), l = Math.Max(Floor, Share(live.Lengths[b],
                live.Prompts));
            psi += (l - r) * Math.Log(l / r);
        }
        // words: the reference's kept words, and one bin for all others
        var kept = Words.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(KeptWords).Select(kv => kv.Key).ToList();
        var reference = kept.Select(w => Share(Words[w], WordTotal)).ToList();
        var current = kept.Select(w => Share(live.Words.GetValueOrDefault(w), live.WordTotal)).ToList();
        reference.Add(Math.Max(0, 1 - reference.Sum()));
        double unseen = Math.Max(0, 1 - current.Sum());
        current.Add(unseen);
        double js = JensenShannon(reference, current);
        double scripts = 0;
        long refLetters = Scripts.Sum(), liveLetters = live.Scripts.Sum();
        for (int s = 0; s < Scripts.Length; s++)
            scripts += Math.Abs(Share(Scripts[s], refLetters) - Share(live.Scripts[s], liveLetters));
        return new DriftScores(psi, js, scripts / 2, live.WordTotal == 0 ? 0 : unseen,
            Languages.Count == 0 ? null : TotalVariation(Languages, live.Languages));
    }

    /// <summary>Half the summed difference of two count tables' shares (0: the same mix, 1: nothing shared).</summary>
    public static double TotalVariation(IReadOnlyDictionary<string, long> reference,
        IReadOnlyDictionary<string, long> live)
    {
        long r = reference.Values.Sum(), l = live.Values.Sum();
        return reference.Keys.Union(live.Keys).Sum(k => Math.Abs(Share(reference.GetValueOrDefault(k), r)
            - Share(live.GetValueOrDefault(k), l))) / 2;
    }

    static double Share(long n, long total) => total == 0 ? 0 : (double)n / total;

    static double JensenShannon(IReadOnlyList<double> p, IReadOnlyList<double> q)
    {
        double js = 0;
        for (int i = 0; i < p.Count; i++)
        {
            double m = (p[i] + q[i]) / 2;
            if (p[i] > 0)
                js += 0.5 * p[i] * Math.Log2(p[i] / m);
            if (q[i] > 0)
                js += 0.5 * q[i] * Math.Log2(q[i] / m);
        }
        return js;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Prompts} prompts, {WordTotal} words");
}
