// The shared test data this project reads (<repo>/../shared/data, located by tests/Shared/SharedData.cs).
using System.Text.Json;

namespace FineTune.Text.Tests;

internal static class TestData
{
    /// <summary>Full path of a shared data file; skips the test when it is missing.</summary>
    public static string Path_(string relative) => SharedData.File(relative);

    public static string Llama2Model => Path_("models/llama2-tokenizer/tokenizer.model");
    public static string Llama3Dir => Path_("models/llama3-tokenizer");
    public static string Tok512 => Path_("models/stories260K/tok512.bin");

    public sealed record Case(string Text, int[] Ids);

    public static IReadOnlyList<Case> ReferenceCases(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path_("reference/" + file)));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!, [.. c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32())]))];
    }

    private static readonly Lazy<TextTokenizer> s_llama2 = new(() => TokenizerLoader.Load(Llama2Model));
    private static readonly Lazy<TextTokenizer> s_llama3 = new(() => TokenizerLoader.Load(Llama3Dir));

    public static TextTokenizer Llama2
    {
        get
        {
            _ = Llama2Model;
            return s_llama2.Value;
        }
    }
    public static TextTokenizer Llama3
    {
        get
        {
            _ = Llama3Dir;
            return s_llama3.Value;
        }
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "finetune-text-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
