// Commands a person clicks in the dashboard, each asking for what it needs (a project, a run) and calling the
// service's own HTTP endpoint, so the dashboard does exactly what `finetune upload|rollback|cancel` would.
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace FineTune.AppHost;

public static class PipelineCommands
{
    public const string DropSample = "drop-sample";
    public const string RollBack = "roll-back";
    public const string CancelRun = "cancel-run";

    static InteractionInput ProjectInput(string value) => new()
    {
        Name = "project", Label = "Project", InputType = InputType.Text, Required = true, Value = value,
        MaxLength = 64, Description = "Lowercase letters, digits and dashes (the ingestion prefix)",
    };

    /// <summary>Drops the shipped support-ticket sample into ingestion/PROJECT/; the bucket scan starts its
    /// run.</summary>
    public static IResourceBuilder<ProjectResource> WithDropSampleCommand(
        this IResourceBuilder<ProjectResource> ingestion)
    {
        return ingestion.WithPostCommand(DropSample, "Drop the sample dataset",
            ctx => $"projects/{Escape(ctx, "project")}/sample?seed={Escape(ctx, "seed")}",
            "the sample is in the ingestion bucket; its run starts at the next scan",
            new CommandOptions
            {
                Description = "Generate the support-ticket sample (400 examples) and drop it into a project",
                IconName = "DocumentArrowUp",
                Arguments = [ProjectInput("tickets"), new InteractionInput
                {
                    Name = "seed", Label = "Seed", InputType = InputType.Number, Required = true, Value = "7",
                    Description = "The same seed gives the same file, which the pipeline does not run twice",
                }],
            });
    }

    /// <summary>Points PROJECT's production alias back at its previous version.</summary>
    public static IResourceBuilder<ProjectResource> WithRollBackCommand(
        this IResourceBuilder<ProjectResource> deployment)
    {
        return deployment.WithPostCommand(RollBack, "Roll back production",
            ctx => $"models/{Escape(ctx, "project")}/rollback?reason=dashboard",
            "rollback requested; the registry and the OpenAI endpoint follow",
            new CommandOptions
            {
                Description = "Point a project's production alias back at its previous version",
                IconName = "ArrowUndo",
                ConfirmationMessage = "Roll back the project's production model?",
                Arguments = [ProjectInput("")],
            });
    }

    /// <summary>Ends a run as cancelled; a running training job stops at its next lease renewal.</summary>
    public static IResourceBuilder<ProjectResource> WithCancelRunCommand(this IResourceBuilder<ProjectResource> service)
    {
        return service.WithPostCommand(CancelRun, "Cancel a run",
            ctx => $"runs/{Escape(ctx, "run")}/cancel?reason=cancelled+from+the+dashboard", "run cancelled",
            new CommandOptions
            {
                Description = "Cancel a run by its id (finetune runs, or the Runs URL, lists them)",
                IconName = "DismissCircle",
                Arguments = [new InteractionInput
                {
                    Name = "run", Label = "Run id", InputType = InputType.Text, Required = true, MaxLength = 36,
                }],
            });
    }

    // A command that POSTs to a path on the service's own http endpoint, built from the person's arguments.
    static IResourceBuilder<ProjectResource> WithPostCommand(this IResourceBuilder<ProjectResource> service,
        string name, string displayName, Func<ExecuteCommandContext, string> path, string success,
        CommandOptions options)
    {
        var http = service.GetEndpoint("http");
        return service.WithCommand(name, displayName, ctx => PostAsync(http, path(ctx), success, ctx.CancellationToken),
            options);
    }

    static string Escape(ExecuteCommandContext ctx, string name) =>
        Uri.EscapeDataString(ctx.Arguments.GetString(name)?.Trim() ?? "");

    static async Task<ExecuteCommandResult> PostAsync(EndpointReference endpoint, string path, string success,
        CancellationToken ct)
    {
        using var http = new HttpClient
        {
            BaseAddress = new Uri(endpoint.Url.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(60)
        };
        try
        {
            using var response = await http.PostAsync(path, content: null, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            return response.IsSuccessStatusCode
                ? CommandResults.Success(success, body, CommandResultFormat.Json)
                : CommandResults.Failure($"{(int)response.StatusCode}: {ErrorOf(body)}");
        }
        catch (HttpRequestException e)
        {
            return CommandResults.Failure($"the service did not answer: {e.Message}");
        }
    }

    static string ErrorOf(string body)
    {
        try
        {
            return System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("error").GetString() ?? body;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException
            or InvalidOperationException)
        {
            return body.Length > 300 ? body[..300] : body;
        }
    }
}
