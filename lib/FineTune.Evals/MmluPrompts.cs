// MMLU prompts exactly as lm-evaluation-harness's default `mmlu` task writes them (description, "Answer:" format,
// first-K dev shots joined by "\n\n"), and the subject → category table of hendrycks/test categories.py / the harness's
// mmlu_stem, mmlu_humanities, mmlu_social_sciences and mmlu_other groups.
namespace FineTune.Evals;

/// <summary>One MMLU question; <see cref="Answer"/> is 0–3 for A–D.</summary>
public sealed record MmluItem(string Subject, string Question, IReadOnlyList<string> Choices, int Answer)
{
    public char AnswerLetter => MmluPrompts.Letters[Answer];
}

public static class MmluPrompts
{
    public const string Letters = "ABCD";
    public const string FewShotSeparator = "\n\n";

    /// <summary>"The following are multiple choice questions (with answers) about abstract algebra.\n\n"</summary>
    public static string Description(string subject) =>
        $"The following are multiple choice questions (with answers) about {subject.Replace('_', ' ')}.\n\n";

    /// <summary>The harness's doc_to_text: the stripped question, the four lettered choices and "Answer:".</summary>
    public static string DocToText(MmluItem item) =>
        $"{PyStrip(item.Question)}\nA. {item.Choices[0]}\nB. {item.Choices[1]}\nC. {item.Choices[2]}\nD. " +
            $"{item.Choices[3]}\nAnswer:";

    /// <summary>The continuation for choice <paramref name="choice"/> (target_delimiter " " + letter): " A" … "
    /// D".</summary>
    public static string Continuation(int choice) => " " + Letters[choice];

    /// <summary>Description, then each shot with its answer, then the question; shots and question joined by
    /// "\n\n".</summary>
    public static string Context(MmluItem item, IReadOnlyList<MmluItem> shots)
    {
        var parts = shots.Select(s => DocToText(s) + Continuation(s.Answer)).Append(DocToText(item));
        return Description(item.Subject) + string.Join(FewShotSeparator, parts);
    }

    // Python's str.strip() with no argument: Unicode whitespace on both ends (close to .NET's Trim for this data).
    static string PyStrip(string s) => s.Trim();

    public const string Stem = "stem", Humanities = "humanities", SocialSciences = "social_sciences", Other = "other";

    /// <summary>The 57 subjects and their category, as in the harness's groups (mmlu_stem etc.).</summary>
    public static IReadOnlyDictionary<string, string> Categories { get; } = new Dictionary<string, string>
    {
        ["abstract_algebra"] = Stem, ["anatomy"] = Stem, ["astronomy"] = Stem, ["business_ethics"] = Other,
        ["clinical_knowledge"] = Other, ["college_biology"] = Stem, ["college_chemistry"] = Stem,
        ["college_computer_science"] = Stem, ["college_mathematics"] = Stem, ["college_medicine"] = Other,
        ["college_physics"] = Stem, ["computer_security"] = Stem, ["conceptual_physics"] = Stem,
        ["econometrics"] = SocialSciences, ["electrical_engineering"] = Stem, ["elementary_mathematics"] = Stem,
        ["formal_logic"] = Humanities, ["global_facts"] = Other, ["high_school_biology"] = Stem,
        ["high_school_chemistry"] = Stem, ["high_school_computer_science"] = Stem,
        ["high_school_european_history"] = Humanities, ["high_school_geography"] = SocialSciences,
        ["high_school_government_and_politics"] = SocialSciences, ["high_school_macroeconomics"] = SocialSciences,
        ["high_school_mathematics"] = Stem, ["high_school_microeconomics"] = SocialSciences,
        ["high_school_physics"] = Stem,
        ["high_school_psychology"] = SocialSciences, ["high_school_statistics"] = Stem,
        ["high_school_us_history"] = Humanities, ["high_school_world_history"] = Humanities, ["human_aging"] = Other,
        ["human_sexuality"] = SocialSciences, ["international_law"] = Humanities, ["jurisprudence"] = Humanities,
        ["logical_fallacies"] = Humanities, ["machine_learning"] = Stem, ["management"] = Other, ["marketing"] = Other,
        ["medical_genetics"] = Other, ["miscellaneous"] = Other, ["moral_disputes"] = Humanities,
        ["moral_scenarios"] = Humanities, ["nutrition"] = Other, ["philosophy"] = Humanities,
        ["prehistory"] = Humanities,
        ["professional_accounting"] = Other, ["professional_law"] = Humanities, ["professional_medicine"] = Other,
        ["professional_psychology"] = SocialSciences, ["public_relations"] = SocialSciences,
        ["security_studies"] = SocialSciences, ["sociology"] = SocialSciences, ["us_foreign_policy"] = SocialSciences,
        ["virology"] = Other, ["world_religions"] = Humanities,
    };
}
