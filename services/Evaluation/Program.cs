// The Evaluation service: evaluates each trained model beside production and applies the regression gate
// (lib/FineTune.Pipeline/Evaluation). dotnet run --project services/Evaluation (see scripts/pipeline-start.sh).
using FineTune.Pipeline.Evaluation;
using FineTune.Pipeline.Hosting;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(p => p.AddEvaluationStage());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.Run();
