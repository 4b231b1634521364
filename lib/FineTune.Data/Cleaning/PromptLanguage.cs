// The language of a prompt without a model: a prompt written mostly in a non-Latin script is that script's language
// family (cyrillic, greek, arabic, hebrew, cjk); a Latin one is the language whose most frequent function words it uses
// most (English, Spanish, French, German, Portuguese, Italian, Dutch), "latin" when none or several tie. Function words
// carry most of the signal in short texts: "where is my order" and "dónde está mi pedido" share no word.
using System.Text;
using System.Text.RegularExpressions;

namespace FineTune.Data.Cleaning;

public static partial class PromptLanguage
{
    static readonly (string Code, HashSet<string> Words)[] Latin =
    [
        ("en", Set("the and is are was were of to in that it with for on this you what how be have not from by at " +
            "which they my your can do does where why who will would please")),
        ("es", Set("el la los las que y en un una es por con para no se del al lo como más pero está qué cómo " +
            "dónde mi tu su muy esta este son hay también")),
        ("fr", Set("le la les des et est un une du que qui dans pour pas sur au avec ce il elle je vous nous mon " +
            "où ne sont mais comment pourquoi")),
        ("de", Set("der die das und ist nicht ein eine zu den mit von sich auf für im dem auch es ich sie wie was " +
            "wir mein kann wo warum bitte")),
        ("pt", Set("o os as que e do da em um uma para com não por se na no mais dos das como meu minha está você " +
            "onde é obrigado")),
        ("it", Set("il lo la di che e un una per non sono con del della in è si da gli le mi ma come questo anche " +
            "perché dove sei")),
        ("nl", Set("de het een en is van dat niet op te met voor zijn ik je wat hoe waar mijn er maar ook kan")),
    ];

    static readonly string[] Scripts = ["latin", "cyrillic", "greek", "arabic", "hebrew", "cjk", "other"];

    static HashSet<string> Set(string words) => new(words.Split(' '), StringComparer.Ordinal);

    [GeneratedRegex(@"\p{L}+", RegexOptions.CultureInvariant)]
    private static partial Regex Word();

    /// <summary>The script a letter belongs to: latin, cyrillic, greek, arabic, hebrew, cjk (Japanese kana, CJK
    /// ideographs, Hangul) or other.</summary>
    public static string ScriptOf(int c) => Scripts[ScriptIndex(c)];

    internal static IReadOnlyList<string> ScriptNames => Scripts;

    internal static int ScriptIndex(int c) => c switch
    {
        < 0x250 => 0,
        >= 0x400 and < 0x530 => 1,
        >= 0x370 and < 0x400 => 2,
        >= 0x600 and < 0x700 => 3,
        >= 0x590 and < 0x600 => 4,
        (>= 0x3040 and < 0x3100) or (>= 0x4E00 and < 0xA000) or (>= 0xAC00 and < 0xD7B0) => 5,
        _ => 6,
    };

    /// <summary>en, es, fr, de, pt, it, nl or latin for Latin-script text; the script's name otherwise; "none" for
    /// text without letters.</summary>
    public static string Detect(string text)
    {
        Span<int> letters = stackalloc int[Scripts.Length];
        foreach (var rune in text.EnumerateRunes())
            if (Rune.IsLetter(rune))
                letters[ScriptIndex(rune.Value)]++;
        int script = 0;
        for (int s = 1; s < letters.Length; s++)
            if (letters[s] > letters[script])
                script = s;
        if (letters[script] == 0)
            return "none";
        if (script != 0)
            return Scripts[script];
        Span<int> hits = stackalloc int[Latin.Length];
        foreach (Match m in Word().Matches(text))
        {
            var word = m.Value.ToLowerInvariant();
            for (int l = 0; l < Latin.Length; l++)
                if (Latin[l].Words.Contains(word))
                    hits[l]++;
        }
        int best = 0, ties = 0;
        for (int l = 1; l < hits.Length; l++)
            if (hits[l] > hits[best])
                (best, ties) = (l, 0);
            else if (hits[l] == hits[best])
                ties++;
        return hits[best] == 0 || ties > 0 ? "latin" : Latin[best].Code;
    }
}
