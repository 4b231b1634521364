// Checkpoints of a run under OUTPUT/checkpoints/checkpoint-NNNNNN: the trainable weights in their user format (an HF
// model directory for full fine-tuning, a PEFT adapter otherwise), the optimizer moments (optimizer.safetensors) and
// trainer_state.json. Each is written into a .tmp directory and renamed when complete, so a kill at any moment leaves
// either the previous checkpoint or the new one, never half of one.
using System.Text.Json;
using System.Text.RegularExpressions;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Training;

public static partial class TrainingCheckpoints
{
    public const string StateFile = "trainer_state.json", OptimizerFile = "optimizer.safetensors";
    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower
    };

    public static string Directory(string outputDir) => Path.Combine(outputDir, "checkpoints");

    public static string PathOf(string outputDir, int step) =>
        Path.Combine(Directory(outputDir), $"checkpoint-{step:D6}");

    /// <summary>Complete checkpoints of a run, oldest first.</summary>
    public static IReadOnlyList<(int Step, string Path)> List(string outputDir)
    {
        var root = Directory(outputDir);
        if (!System.IO.Directory.Exists(root))
            return [];
        return System.IO.Directory.EnumerateDirectories(root)
            .Select(d => (Match: CheckpointName().Match(Path.GetFileName(d)), Path: d))
            .Where(x => x.Match.Success && File.Exists(Path.Combine(x.Path, StateFile)))
            .Select(x => (int.Parse(x.Match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                x.Path))
            .OrderBy(x => x.Item1).ToList();
    }

    /// <param name="recipeState">writes the recipe's own state into the checkpoint being written</param>
    public static void Save(string outputDir, Llama model, AdamWOptimizer optimizer, TrainerState state,
        string baseModel, Action<string>? recipeState = null)
    {
        var final = PathOf(outputDir, state.Step);
        var tmp = final + ".tmp";
        if (System.IO.Directory.Exists(tmp))
            System.IO.Directory.Delete(tmp, recursive: true);
        WriteWeights(model, tmp, baseModel);
        optimizer.Save(Path.Combine(tmp, OptimizerFile));
        recipeState?.Invoke(tmp);
        File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
        if (System.IO.Directory.Exists(final))
            System.IO.Directory.Delete(final, recursive: true);
        System.IO.Directory.Move(tmp, final);
    }

    /// <summary>Writes the trainable weights as a user would load them: HF checkpoint (full) or PEFT adapter.</summary>
    public static void WriteWeights(Llama model, string directory, string baseModel)
    {
        if (model.Adapter is null)
            LlamaCheckpoints.Save(model, directory);
        else
            PeftExport.Save(model, directory, baseModel);
    }

    /// <summary>Atomically replaces <paramref name="directory"/> with the model's current trainable weights.</summary>
    public static void WriteWeightsAtomically(Llama model, string directory, string baseModel,
        IEnumerable<string> carriedFiles)
    {
        var tmp = directory + ".tmp";
        if (System.IO.Directory.Exists(tmp))
            System.IO.Directory.Delete(tmp, recursive: true);
        WriteWeights(model, tmp, baseModel);
        foreach (var file in carriedFiles)
            File.Copy(file, Path.Combine(tmp, Path.GetFileName(file)), overwrite: true);
        var old = directory + ".old";
        if (System.IO.Directory.Exists(old))
            System.IO.Directory.Delete(old, recursive: true);
        if (System.IO.Directory.Exists(directory))
            System.IO.Directory.Move(directory, old);
        System.IO.Directory.Move(tmp, directory);
        if (System.IO.Directory.Exists(old))
            System.IO.Directory.Delete(old, recursive: true);
    }

    /// <summary>
    /// Undoes a swap that a kill interrupted: <paramref name="directory"/> was moved aside to .old and the new copy
    /// not yet moved in. The old copy comes back, so `best/` is never silently missing.
    /// </summary>
    public static void RecoverInterruptedSwap(string directory)
    {
        var old = directory + ".old";
        if (!System.IO.Directory.Exists(directory) && System.IO.Directory.Exists(old))
            System.IO.Directory.Move(old, directory);
    }

    public static TrainerState ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path),
                Json) ?? throw new InvalidDataException($"{path}: empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a trainer state ({e.Message}).", e);
        }
    }

    /// <summary>Copies a checkpoint's trainable weights into the model (exact float32 values, by name).</summary>
    public static void RestoreWeights(Llama model, string checkpoint)
    {
        using var _ = no_grad();
        if (model.Adapter is null)
        {
            using var file = HfCheckpoint.Open(checkpoint);
            foreach (var (name, p) in model.named_parameters())
                Copy(p, file.Read(name), checkpoint);
            return;
        }
        using var adapter = SafeTensorsFile.Open(Path.Combine(checkpoint, PeftAdapter.WeightsFile));
        foreach (var (name, p) in model.AdapterParameters())
        {
            var stored = adapter.Contains("base_model.model." + name) ? "base_model.model." + name : name;
            Copy(p, adapter.Read(stored), checkpoint);
        }
    }

    static void Copy(Parameter p, TensorData data, string source)
    {
        if (!data.Shape.SequenceEqual(p.shape))
            throw new InvalidDataException($"{source}: '{data.Name}' has shape {data.Info.ShapeText}, the model's " +
                $"parameter has [{string.Join(", ", p.shape)}].");
        using var values = tensor(data.ToFloat32(), data.Shape);
        p.copy_(values);
    }

    /// <summary>Deletes all but the newest <paramref name="keepLast"/> checkpoints, sparing the one at <paramref
    /// name="keepStep"/>.</summary>
    public static void Rotate(string outputDir, int keepLast, int? keepStep)
    {
        var all = List(outputDir);
        foreach (var (step, path) in all.Take(Math.Max(0, all.Count - keepLast)))
            if (step != keepStep)
                System.IO.Directory.Delete(path, recursive: true);
    }

    [GeneratedRegex(@"^checkpoint-(\d+)$")]
    private static partial Regex CheckpointName();
}
