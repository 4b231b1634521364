// retraining.start_from = production: the production adapter merged into its base, so the new adapter learns on top of
// what production already knows (the merged model becomes the new version's base).
using FineTune.Torch;

namespace FineTune.Pipeline.Training;

static class ProductionStart
{
    public static string Merge(string baseModel, string adapter, string outDir)
    {
        if (File.Exists(Path.Combine(outDir, "config.json")))
            return outDir;
        var tmp = outDir + ".tmp";
        if (Directory.Exists(tmp))
            Directory.Delete(tmp, recursive: true);
        ModelMerge.Save(baseModel, adapter, tmp);
        Directory.Move(tmp, outDir);
        return outDir;
    }
}
