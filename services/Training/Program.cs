// The Training service: records training jobs and runs them, one at a time, in its TrainingWorker; several instances
// compete for jobs (lib/FineTune.Pipeline/Training).
// dotnet run --project services/Training (see scripts/pipeline-start.sh).
using FineTune.Pipeline.Hosting;
using FineTune.Pipeline.Training;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(p => p.AddTrainingStage());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.Run();
