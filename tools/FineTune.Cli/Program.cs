// finetune — command-line front door: inspect, generate, convert, tokenize (more stages join as they land).
// Run: dotnet run --project tools/FineTune.Cli -- generate MODEL --prompt "Once upon a time"
using FineTune.Cli;

return await Cli.RunAsync(args, Console.Out, Console.Error);
