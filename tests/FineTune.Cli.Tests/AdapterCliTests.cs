// PEFT adapters through the CLI on stories260K: an adapter applied at load and the same adapter merged into a new
// checkpoint give the same greedy ids (on both engines), and those differ from the base model's.
using System.Text.Json.Nodes;
using FineTune.Models.Adapters;

namespace FineTune.Cli.Tests;

public class AdapterCliTests
{
    [SkippableFact]
    public async Task Adapter_at_load_equals_merged_checkpoint_and_changes_the_output()
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        using var dir = new TempDir();
        string adapterDir = Path.Combine(dir.Path, "adapter"), merged = Path.Combine(dir.Path, "merged");
        // LoRA r=4 on q_proj and v_proj of all 5 layers (dim 64, kv dim 32), as PEFT would save it.
        var random = new Random(3);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var modules = new Dictionary<string, (float[], float[], float[]?)>();
        var shapes = new Dictionary<string, (long, long)>();
        for (int l = 0; l < 5; l++)
        {
            modules[$"model.layers.{l}.self_attn.q_proj"] = (Values(4 * 64), Values(64 * 4), null);
            shapes[$"model.layers.{l}.self_attn.q_proj"] = (64, 64);
            modules[$"model.layers.{l}.self_attn.v_proj"] = (Values(4 * 64), Values(32 * 4), null);
            shapes[$"model.layers.{l}.self_attn.v_proj"] = (32, 64);
        }
        PeftAdapter.Save(adapterDir, new PeftConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "v_proj"] },
            modules, shapes);

        var baseIds = CliRunner.Ids((await CliRunner.Run("generate", checkpoint, "--prompt-ids", "1", "-n", "32")).Out);
        var withAdapter = await CliRunner.Run("generate", checkpoint, "--prompt-ids", "1", "-n", "32", "--adapter",
            adapterDir);
        Assert.True(withAdapter.Exit == 0, withAdapter.Err);
        var merge = await CliRunner.Run("merge", checkpoint, adapterDir, merged);
        Assert.True(merge.Exit == 0, merge.Err);
        var fromMerged = CliRunner.Ids((await CliRunner.Run("generate", merged, "--prompt-ids", "1", "-n", "32")).Out);
        var torchAdapter = CliRunner.Ids((await CliRunner.Run("generate", checkpoint, "--prompt-ids", "1", "-n", "32",
            "--adapter", adapterDir, "--engine", "torch")).Out);

        Assert.Equal(CliRunner.Ids(withAdapter.Out), fromMerged);
        Assert.Equal(fromMerged, torchAdapter);
        Assert.NotEqual(baseIds, fromMerged);
    }
}
