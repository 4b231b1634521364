// The Tokenization service: tokenizes each cleaned dataset for the run's base model
// (lib/FineTune.Pipeline/Tokenization). dotnet run --project services/Tokenization (see scripts/pipeline-start.sh).
using FineTune.Pipeline.Hosting;
using FineTune.Pipeline.Tokenization;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(p => p.AddTokenizationStage());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.Run();
