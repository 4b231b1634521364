// finetune inspect MODEL: architecture, parameter count, dtype and memory of a checkpoint, without loading weights.
using System.CommandLine;
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Cli.Commands;

static class InspectCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model")
        {
            Description = "Hugging Face model directory or llama2.c .bin file"
        };
        var command = new Command("inspect",
            "Show a model's architecture, parameter count, dtype and memory.") { model };
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(model)!;
            var c = Engines.ReadConfig(path);
            var format = HfCheckpoint.IsCheckpointDirectory(path) ? "hugging face (safetensors)" : "llama2.c";
            long parameters = c.ParameterCount();
            var dtype = DTypes.FromTorchName(c.TorchDtype);
            long kvBytesPerToken = 2L * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * 4;
            string[] lines =
            [
                $"model:          {path}",
                $"format:         {format}",
                $"architecture:   {c.ModelType}",
                $"layers:         {c.NumHiddenLayers}",
                $"hidden size:    {c.HiddenSize} (MLP {c.IntermediateSize})",
                $"heads:          {c.NumAttentionHeads} query, {c.NumKeyValueHeads} key/value (head dim {c.HeadDim})",
                $"vocabulary:     {c.VocabSize}",
                $"context:        {c.MaxPositionEmbeddings}",
                $"rope:           theta " +
                    $"{c.RopeTheta}{(c.RopeScaling is { } rs ? $", {rs.Type} scaling x{rs.Factor}" : "")}",
                $"tied embedding: {(c.TieWordEmbeddings ? "yes" : "no")}",
                $"parameters:     {parameters:N0} ({Human(parameters, 1000, "")})",
                $"dtype:          {c.TorchDtype}",
                $"weights memory: {Human(parameters * dtype.Size(), 1024, "B")} as {c.TorchDtype}" +
                    (dtype == DType.F32 ? ""
                        : $", {Human(parameters * 4, 1024, "B")} as float32 (the cpu engine widens weights)"),
                $"kv cache:       {Human(kvBytesPerToken, 1024, "B")} per token (float32), " +
                    $"{Human(kvBytesPerToken * c.MaxPositionEmbeddings, 1024, "B")} for the full context",
            ];
            foreach (var line in lines)
                await stdout.WriteLineAsync(line.AsMemory(), ct);
            return 0;
        });
        return command;
    }

    static string Human(double value, double step, string unit)
    {
        string[] prefixes = ["", "K", "M", "G", "T"];
        int i = 0;
        while (value >= step && i < prefixes.Length - 1)
        {
            value /= step;
            i++;
        }
        var prefix = step == 1024 && i > 0 ? prefixes[i] + "i" : prefixes[i];
        return $"{value:0.##} {prefix}{unit}".TrimEnd();
    }
}
