// The AppHost's application model, built without starting anything: what each service is given.
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.AppHost.Tests;

public class AppHostModelTests
{
    static async Task<IReadOnlyDictionary<string, string>> EnvironmentOf(string resource, params string[] args)
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.FineTune_AppHost>(
            ["--Parameters:infrastructure=executables", "--Parameters:serving-api-key=k", .. args]);
        await using var app = await builder.BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var evaluation = (IResourceWithEnvironment)model.Resources.Single(r => r.Name == resource);
        // Aspire 13.6 marks this helper obsolete in favour of an execution-configuration builder; it still resolves
        // every environment callback and parameter the way a run does, which is what this test reads.
#pragma warning disable CS0618
        var values = await evaluation.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Run);
#pragma warning restore CS0618
        return values.ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    [Fact]
    public async Task A_configured_judge_reaches_the_evaluation_service_with_its_key_in_a_variable_of_its_own()
    {
        var env = await EnvironmentOf("evaluation", "--Judge:Model=judge-model",
            "--Judge:Endpoint=http://judge.local/v1", "--Parameters:judge-api-key=sk-judge");
        Assert.Equal("http://judge.local/v1", env["Judge__Endpoint"]);
        Assert.Equal("judge-model", env["Judge__Model"]);
        Assert.Equal("FINETUNE_JUDGE_API_KEY", env["Judge__ApiKeyVariable"]);
        Assert.Equal("sk-judge", env["FINETUNE_JUDGE_API_KEY"]);
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Judge__ApiKey", StringComparison.Ordinal)
            && k != "Judge__ApiKeyVariable");

        var without = await EnvironmentOf("evaluation");
        Assert.DoesNotContain(without.Keys, k => k.StartsWith("Judge__", StringComparison.Ordinal));
        Assert.False((await EnvironmentOf("training", "--Judge:Model=m", "--Parameters:judge-api-key=sk"))
            .ContainsKey("FINETUNE_JUDGE_API_KEY"));
    }
}
