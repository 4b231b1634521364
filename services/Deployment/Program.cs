// The Deployment service: the model registry's aliases — promotion through the gate, manual promote of a passing
// version, rollback — and the OpenAI-compatible endpoint that serves them (lib/FineTune.Pipeline/Deployment,
// lib/FineTune.Pipeline.Serving, lib/FineTune.Serving). HTTP: /models, /v1/….
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Hosting;
using FineTune.Pipeline.Serving;
using FineTune.ServiceDefaults;
using FineTune.Serving;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(p => p.AddDeploymentStage().AddRegistryServing());
ServingHost.ConfigureServerLimits(builder);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.MapModelRegistry();
app.MapServing(allowAdapterLoading: false, hostMapsOpenApi: true); // adapters come from the registry here
app.Run();
