// The Ingestion service: watches the ingestion bucket (reconciliation scan) and validates and cleans every dropped
// dataset (lib/FineTune.Pipeline/Ingestion). dotnet run --project services/Ingestion (see scripts/pipeline-start.sh).
using FineTune.Pipeline;
using FineTune.Pipeline.Hosting;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(PipelineStages.Ingestion);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.Run();
