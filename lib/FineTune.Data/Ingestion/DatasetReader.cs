// Entry point of ingestion: opens a dataset file (gzip and Parquet by magic bytes), checks its encoding, picks the
// container and the format, and streams one Accepted/Rejected per record, then a SourceSummary. Usage: see README.md
// beside this file.
using System.IO.Compression;
using System.Runtime.CompilerServices;

namespace FineTune.Data.Ingestion;

public static class DatasetReader
{
    /// <summary>
    /// The container and format of a file, read from its first records (up to <see
    /// cref="ReadOptions.DetectionRecords"/>). When none of them has the fields of a known format the format is guessed
    /// as chat, which OpenAI's checks assume.
    /// </summary>
    /// <exception cref="InvalidDatasetException">The file is empty, UTF-16, binary, a damaged Parquet file, or its CSV
    /// header is unreadable.</exception>
    public static async Task<Detection> DetectAsync(string path, ReadOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= new ReadOptions();
        await using var opened = await OpenAsync(path, options, ct);
        if (opened.Container == ContainerKind.TextLines || options.Format != SourceFormat.Auto)
            return new Detection(opened.Container,
                opened.Container == ContainerKind.TextLines ? SourceFormat.Text : options.Format, opened.Gzip, null);
        var seen = 0;
        await foreach (var raw in Records(opened, options, path, ct))
        {
            using (raw.Doc)
                if (raw.Doc?.RootElement is { ValueKind: System.Text.Json.JsonValueKind.Object } root
                    && FormatClassifier.Classify(root) is { } format)
                    return new Detection(opened.Container, format, opened.Gzip, raw.Line);
            if (++seen >= options.DetectionRecords)
                break;
        }
        return new Detection(opened.Container, SourceFormat.Chat, opened.Gzip, null, FormatGuessed: true);
    }

    /// <summary>
    /// Every record of the file as exactly one Accepted or Rejected, in file order, then one <see
    /// cref="SourceSummary"/>. Memory is bounded by the largest record (for Parquet, by a row group). Whole-file
    /// problems throw <see cref="InvalidDatasetException"/>.
    /// </summary>
    public static async IAsyncEnumerable<ReadItem> ReadAsync(string path, ReadOptions options,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxRecordBytes);
        if (Directory.Exists(path))
            throw new InvalidDatasetException($"'{path}' is a directory; give one dataset file (JSON Lines, a JSON " +
                $"array, CSV, text or Parquet).");
        if (!File.Exists(path))
            throw new FileNotFoundException($"dataset file not found: '{path}'.", path);
        var detection = await DetectAsync(path, options, ct);
        await using var opened = await OpenAsync(path, options, ct);
        await foreach (var raw in Records(opened, options, path, ct))
            yield return RecordMapper.Map(raw, detection);
        yield return new SourceSummary(detection, opened.Stats.Bom, opened.Stats.Crlf, opened.Stats.BlankLines);
    }

    sealed record Opened(ByteSource Source, bool Gzip, ContainerKind Container, CsvOptions Csv,
        SourceStats Stats) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Source.DisposeAsync();
    }

    static IAsyncEnumerable<RawRecord> Records(Opened file, ReadOptions options, string path,
        CancellationToken ct) => file.Container switch
        {
            ContainerKind.JsonArray => JsonArrayReader.ReadAsync(file.Source, options.MaxRecordBytes, ct),
            ContainerKind.Csv =>
                CsvReader.ReadAsync(file.Source, file.Csv, options.MaxRecordBytes, file.Stats, path, ct),
            ContainerKind.Parquet =>
                ParquetRecordReader.ReadAsync(file.Source.Stream, options.MaxRecordBytes, path, ct),
            ContainerKind.TextLines =>
                LineReader.ReadAsync(file.Source, plainText: true, options.MaxRecordBytes, file.Stats, ct),
            _ => LineReader.ReadAsync(file.Source, plainText: false, options.MaxRecordBytes, file.Stats, ct),
        };

    static async Task<Opened> OpenAsync(string path, ReadOptions options, CancellationToken ct)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        try
        {
            var magic = new byte[4];
            var read = await file.ReadAtLeastAsync(magic, 4, throwOnEndOfStream: false, ct);
            var gzip = read >= 2 && magic is [0x1F, 0x8B, ..];
            var parquet = read == 4 && magic.AsSpan().SequenceEqual(ParquetRecordReader.Magic);
            file.Position = 0;
            var source = new ByteSource(gzip ? new GZipStream(file, CompressionMode.Decompress) : file,
                options.MaxRecordBytes);
            var stats = new SourceStats();
            if (!gzip && (parquet || options.Container == ContainerKind.Parquet
                || (options.Container == ContainerKind.Auto && IsParquetName(path))))
            {
                // The magic wins over a declared container, as gzip's does. Parquet is read by seeking in the file
                // itself (footer first), not through the byte source.
                if (read == 0)
                    throw new InvalidDatasetException($"'{path}' is empty; expected a Parquet file.");
                if (!parquet)
                    throw new InvalidDatasetException($"'{path}' is not a Parquet file: it does not start with the " +
                        $"Parquet magic bytes 'PAR1'. Export it again as Parquet, or as JSON Lines.");
                return new Opened(source, false, ContainerKind.Parquet, options.Csv, stats);
            }
            var start = await Encodings.CheckAsync(source, path, gzip, stats, ct);
            var (container, csv) = Container(path, options, start);
            // only gzip gets here: x.parquet.gz
            if (container == ContainerKind.Parquet)
                throw Encodings.GzipParquet(path);
            if (container == ContainerKind.TextLines && options.Format is not (SourceFormat.Auto or SourceFormat.Text))
                throw new InvalidDatasetException($"'{path}' is read as plain text (one document per line), which " +
                    $"cannot hold {FormatClassifier.Name(options.Format)} records; use JSONL, a JSON array or CSV.");
            return new Opened(source, gzip, container, csv, stats);
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    static bool IsParquetName(string path) =>
        Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The declared container, else by extension (.csv, .tsv, .txt, .parquet; .gz removed first), else by the first
    /// non-blank byte: '[' is a JSON array (unless the name ends .jsonl/.ndjson), anything else JSON Lines.
    /// </summary>
    static (ContainerKind, CsvOptions) Container(string path, ReadOptions options, byte first)
    {
        var name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        var extension = Path.GetExtension(name).ToLowerInvariant();
        var csv = extension == ".tsv" && options.Csv.Delimiter == ',' ? options.Csv with { Delimiter = '\t' }
            : options.Csv;
        if (options.Container != ContainerKind.Auto)
            return (options.Container, csv);
        var container = extension switch
        {
            ".csv" or ".tsv" => ContainerKind.Csv,
            ".txt" => ContainerKind.TextLines,
            ".jsonl" or ".ndjson" => ContainerKind.Jsonl,
            ".parquet" => ContainerKind.Parquet,
            _ => first == (byte)'[' ? ContainerKind.JsonArray : ContainerKind.Jsonl,
        };
        return (container, csv);
    }
}
