// Real datasets from ../shared/data ingest with zero rejects: GSM8K (question/answer alias) and the headerless MMLU
// CSVs through CsvOptions.Mmlu. Skipped when ../shared is absent.
using FineTune.Data.Ingestion;

namespace FineTune.Data.Tests.Ingestion;

public sealed class RealDataTests
{
    [SkippableFact]
    public async Task Gsm8k_train_ingests_all_7473_records_as_prompt_completion()
    {
        var path = SharedData.File("gsm8k/train.jsonl");
        var report = new ValidationReport();
        DataRecord? first = null;
        await foreach (var item in DatasetReader.ReadAsync(path, new ReadOptions()))
        {
            report.Add(item);
            if (item is Accepted a)
                first ??= a.Record;
        }
        Assert.Equal(7473, report.InputRecords);
        Assert.Equal(7473, report.AcceptedRecords);
        Assert.Equal(0, report.RejectedRecords);
        Assert.Equal(SourceFormat.PromptCompletion, report.Detection!.Format);
        Assert.StartsWith("Natalia sold clips", first!.Messages[0].Content);
        Assert.EndsWith("#### 72", first.Messages[1].Content);
        Assert.True(report.Passed(0.01).Ok);
    }

    [SkippableFact]
    public async Task Mmlu_dev_csvs_ingest_all_285_questions_with_lettered_choices()
    {
        var folder = SharedData.File("mmlu/dev");
        var options = new ReadOptions { Format = SourceFormat.PromptCompletion, Csv = CsvOptions.Mmlu };
        var report = new ValidationReport();
        var records = new List<DataRecord>();
        foreach (var file in Directory.GetFiles(folder, "*_dev.csv").Order(StringComparer.Ordinal))
            await foreach (var item in DatasetReader.ReadAsync(file, options))
                if (report.Add(item) is Accepted a)
                    records.Add(a.Record);
        Assert.Equal(285, report.InputRecords);
        Assert.Equal(285, records.Count);
        Assert.Empty(report.RejectedByCode);
        Assert.All(records, r => Assert.Contains(r.Messages[1].Content, new[] { "A", "B", "C", "D" }));
        Assert.Equal("Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3",
            records[0].Messages[0].Content);
        Assert.Equal("B", records[0].Messages[1].Content);
    }
}
