// The Ingestion service: watches the ingestion bucket (reconciliation scan) and validates and cleans every dropped
// dataset (lib/FineTune.Pipeline/Ingestion). dotnet run --project services/Ingestion (see scripts/pipeline-start.sh).
using FineTune.Demo;
using FineTune.Pipeline;
using FineTune.Pipeline.Hosting;
using FineTune.Pipeline.Ingestion;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(p => p.AddIngestionStage());
// Drops that name no base model get Pipeline:BaseModelDirectory, else the tiny base model (pre-trained on first use,
// cached in ~/.cache/finetune/base-models and shared with `finetune run`).
builder.Services.AddSingleton<BaseModelFallback>(_ =>
    ct => TinyBaseModel.EnsureAsync(TinyBaseModel.DefaultCacheRoot(), new TinyBaseModelOptions(), null, ct));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.MapSampleDrop();
app.Run();
