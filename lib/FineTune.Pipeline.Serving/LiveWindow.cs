// A project's last requests as the live watch keeps them (the newest Drift:Window): what was asked and answered, the
// caller's label, how long it took, whether it failed or was screened. QualityNumbers are its service levels and output
// quality. Prompts are kept up to 16,384 characters (the longest length bucket starts at 4,096), answers up to 65,536
// (more than a served context holds).
using System.Collections.Concurrent;
using FineTune.Data.Cleaning;
using FineTune.Text.Structured;

namespace FineTune.Pipeline.Serving;

/// <summary>One answered (or failed: Error, with no prompt or answer) request.</summary>
public sealed record LiveExchange(string Prompt, string Answer, string? Label, bool Error, double Ms, bool Screened);

public sealed class LiveWindow(int size)
{
    const int MaxPromptChars = 16_384, MaxAnswerChars = 65_536;
    readonly ConcurrentQueue<LiveExchange> _items = new();

    public int Count => _items.Count;

    public void Add(LiveExchange exchange)
    {
        _items.Enqueue(exchange with
        {
            Prompt = Clip(exchange.Prompt, MaxPromptChars),
            Answer = Clip(exchange.Answer, MaxAnswerChars),
        });
        while (_items.Count > size)
            _items.TryDequeue(out _);
    }

    static string Clip(string text, int max) => text.Length <= max ? text : text[..max];

    public IReadOnlyList<LiveExchange> Snapshot() => [.. _items];
}

/// <summary>A project's service levels and output quality over its last requests. InvalidRate: the share of answers
/// that are not documents of the project's output schema (null: it has none); FeedbackScore: the mean rating (0–1)
/// of the production version's newest rated answers (null: too few ratings).</summary>
public sealed record QualityNumbers(int Requests, double ErrorRate, double LatencyP95Ms, double ScreenRate,
    double? InvalidRate = null, double? FeedbackScore = null, int Ratings = 0)
{
    public static QualityNumbers Of(IReadOnlyList<LiveExchange> window, JsonGrammar? schema = null)
    {
        var answered = window.Where(o => !o.Error).ToList();
        var times = answered.Select(o => o.Ms).Order().ToArray();
        double p95 = times.Length == 0 ? 0
            : times[Math.Min(times.Length - 1, (int)Math.Ceiling(0.95 * times.Length) - 1)];
        double? invalid = schema is null || answered.Count == 0 ? null
            : (double)answered.Count(o => !schema.IsValid(o.Answer)) / answered.Count;
        return new(window.Count, (double)window.Count(o => o.Error) / window.Count, p95,
            (double)window.Count(o => o.Screened) / window.Count, invalid);
    }
}

/// <summary>Label drift: the share of live labels training never had, and the shift of the label mix.</summary>
public sealed record LabelScores(int Labels, double UnseenLabels, double LabelShift);

/// <summary>Every live number of a project over some of its newest requests; Scores and Labels null where there is
/// no reference (or too few prompts or labels) to score against.</summary>
public sealed record LiveNumbers(QualityNumbers Quality, DriftScores? Scores, LabelScores? Labels)
{
    /// <summary>Measures <paramref name="live"/> (the newest requests) and <paramref name="ratings"/> (the production
    /// version's newest ratings) against <paramref name="reference"/>.</summary>
    public static LiveNumbers Of(IReadOnlyList<LiveExchange> live, IReadOnlyList<double> ratings,
        ProductionReference reference, DriftOptions options)
    {
        var quality = QualityNumbers.Of(live, reference.Schema) with
        {
            Ratings = ratings.Count,
            FeedbackScore = ratings.Count >= Math.Max(1, options.MinRatings) ? ratings.Average() : null,
        };
        var answered = live.Where(e => !e.Error).ToList();
        DriftScores? scores = null;
        if (reference.Profile is not null && answered.Count >= options.MinPrompts)
        {
            var profile = new PromptProfile();
            foreach (var e in answered)
                profile.Add(e.Prompt);
            scores = reference.Profile.Compare(profile);
        }
        LabelScores? labelScores = null;
        if (reference.Labels is { } trained)
        {
            // the caller's label, else (a classifier's data) the answer is the label
            var labels = answered.Select(e => e.Label ?? (trained.AnswersAreLabels ? e.Answer : null))
                .OfType<string>().ToList();
            if (labels.Count >= options.MinPrompts)
            {
                var (unseen, shift) = trained.Compare(labels);
                labelScores = new LabelScores(labels.Count, unseen, shift);
            }
        }
        return new LiveNumbers(quality, scores, labelScores);
    }

    public double? Value(string metric) => metric switch
    {
        "quality.error_rate" => Quality.ErrorRate,
        "quality.latency_p95_ms" => Quality.LatencyP95Ms,
        "quality.screen_rate" => Quality.ScreenRate,
        "quality.invalid_rate" => Quality.InvalidRate,
        "quality.feedback_score" => Quality.FeedbackScore,
        "drift.unseen_labels" => Labels?.UnseenLabels,
        "drift.label_shift" => Labels?.LabelShift,
        "drift.prompt_length_psi" => Scores?.LengthPsi,
        "drift.word_js" => Scores?.WordJs,
        "drift.script_shift" => Scores?.ScriptShift,
        "drift.language_shift" => Scores?.LanguageShift,
        "drift.unseen_words" => Scores?.UnseenWords,
        _ => null,
    };
}
