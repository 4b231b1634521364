// The Deployment service: the model registry's aliases — promotion through the gate, manual promote of a passing
// version, rollback — and ModelPromoted for serving (lib/FineTune.Pipeline/Deployment). HTTP: /models.
using FineTune.Pipeline;
using FineTune.Pipeline.Hosting;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPipelineService(PipelineStages.Deployment);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPipelineRuns();
app.MapModelRegistry();
app.Run();
