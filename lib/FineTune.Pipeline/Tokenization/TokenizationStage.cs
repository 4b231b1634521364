// The tokenization stage's work: the prepared splits → token ids and loss masks in shards for the base model's
// tokenizer and chat template (lib/FineTune.Data/Tokenization), uploaded as one bundle.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Pipeline.Tokenization;

public sealed class TokenizationStage(IArtifactStore store, RunInputs inputs)
{
    public const string ShardsFolder = "shards";

    public async Task<DatasetTokenized> RunAsync(DatasetCleaned cleaned, CancellationToken ct)
    {
        var all = await inputs.SettingsAsync(cleaned.Settings, ct);
        var settings = all.Tokenize;
        var prepared = await inputs.BundleAsync(cleaned.Prepared, ct);
        var model = await inputs.BundleAsync(cleaned.BaseModel, ct);
        int maxLength = all.MaxLengthFor(LlamaConfig.Load(Path.Combine(model, "config.json")).MaxPositionEmbeddings,
            $"{cleaned.Settings.Bucket}/{cleaned.Settings.Key}");
        // The bundle holds the directory shards/ (the shard format's own manifest.json must not meet the bundle's).
        var work = inputs.StageDirectory(cleaned.RunId, Stages.Tokenization);
        var shards = Path.Combine(work, ShardsFolder);
        var manifest = await DatasetTokenizer.TokenizeAsync(prepared, model, shards, new TokenizeOptions
        {
            MaxLength = maxLength,
            TrainOnInputs = settings.TrainOnInputs,
            Truncation = settings.Truncation,
            Template = settings.ChatTemplate is { } name ? ChatTemplate.Parse(name) : null,
        }, null, ct);
        var train = manifest.Splits.TryGetValue("train", out var t) ? t.Counts : null;
        if (train is null || train.Examples == 0)
            throw new FineTune.Data.InvalidDatasetException($"run {cleaned.RunId}: no training examples left after " +
                $"tokenization (max_length {maxLength}, truncation {ConfigNames.Of(settings.Truncation)}).");
        var shardsRef = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Tokenized,
            $"{cleaned.Project}/{cleaned.RunId:N}/{cleaned.BaseModel.Sha256[..12]}", work, ct);
        return new DatasetTokenized
        {
            RunId = cleaned.RunId, Project = cleaned.Project, Shards = shardsRef, Prepared = cleaned.Prepared,
            BaseModel = cleaned.BaseModel, TrainExamples = train.Examples, TrainTokens = train.Tokens,
            Settings = cleaned.Settings,
            MaxLength = maxLength, Truncation = ConfigNames.Of(settings.Truncation),
            Splits = manifest.Splits.ToDictionary(s => s.Key, s => Counts(s.Value.Counts)),
        };
    }

    static SplitLengthCounts Counts(TokenizeStats c) =>
        new(c.Examples, c.Truncated, c.Dropped, c.Tokens) { Lengths = c.Lengths };
}
