// retraining.start_from = production: the production adapter merged into its base, so the new adapter learns on top of
// what production already knows (the merged model becomes the new version's base).
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Pipeline.Training;

static class ProductionStart
{
    static readonly string[] CarriedFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt"];

    public static string Merge(string baseModel, string adapter, string outDir)
    {
        if (File.Exists(Path.Combine(outDir, "config.json"))) return outDir;
        var tmp = outDir + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        var (config, tensors) = Engines.ReadMerged(baseModel, adapter);
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(tmp, config, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
        foreach (var file in CarriedFiles.Where(f => File.Exists(Path.Combine(baseModel, f))))
            File.Copy(Path.Combine(baseModel, file), Path.Combine(tmp, file), overwrite: true);
        Directory.Move(tmp, outDir);
        return outDir;
    }
}
