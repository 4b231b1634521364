// The web console (lib/FineTune.Console) as a service: runs with live training charts, evaluation side by side, the
// registry with promote and rollback, behind console keys. Against the services' servers (appsettings.json, the
// AppHost) its promote and rollback go to the Deployment service over RabbitMQ; over a local pipeline home instead
// (Console:Home, what `finetune run` writes) it carries the deployment stage itself so they act in-process
// (ConsoleHome; `finetune console` hosts the same).
using FineTune.Console;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
ConsoleHome.UseLocalHome(builder.Configuration);
builder.AddServiceDefaults();
builder.AddConsolePipeline();
builder.AddFineTuneConsole();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFineTuneConsole();
app.Run();
