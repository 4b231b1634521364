// finetune — command-line front door: inspect, generate, convert, tokenize (more stages join as they land).
// Run: dotnet run --project tools/FineTune.Cli -- generate MODEL --prompt "Once upon a time"
using FineTune.Cli;
using FineTune.Torch;

TorchProcess.Configure();   // before anything loads libtorch: OpenMP workers that sleep, not spin, when idle
return await Cli.RunAsync(args, Console.Out, Console.Error);
