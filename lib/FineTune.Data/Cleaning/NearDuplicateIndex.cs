// Finds near-duplicate records (estimated Jaccard of 5-word shingle sets ≥ threshold) in one pass; first seen wins.
// Per record it keeps the signature's low 32 bits (4 bytes × permutations, in 8192-record chunks, so no copy of the
// whole index ever happens) and one bucket entry per band, never the text. A false 32-bit match between two
// different minima has probability 2^-32 per permutation, far below the estimate's own noise.
namespace FineTune.Data.Cleaning;

public sealed class NearDuplicateIndex
{
    readonly NearDuplicateOptions _options;
    readonly MinHasher _hasher;
    const int ChunkRecords = 8192;
    readonly List<uint[]> _signatureChunks = [];
    readonly List<long> _lines = [];
    readonly Dictionary<ulong, int>[] _bucketHead;   // band hash → newest record in the bucket
    readonly List<int>[] _bucketNext;                // record → previous record in the same bucket, or -1

    public NearDuplicateIndex(NearDuplicateOptions? options = null)
    {
        _options = options ?? new NearDuplicateOptions();
        if (_options.Threshold is not (> 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), _options.Threshold,
                "NearDuplicate:Threshold must be in (0, 1].");
        if (_options.Bands.HasValue != _options.Rows.HasValue)
            throw new ArgumentException("NearDuplicate:Bands and NearDuplicate:Rows are set together or not at all.",
                nameof(options));
        Banding = _options.Bands is { } bands && _options.Rows is { } rows
            ? new LshBanding(bands, rows)
            : LshBanding.Choose(_options.Threshold, _options.Permutations);
        if (Banding.Bands <= 0 || Banding.Rows <= 0 || Banding.Bands * Banding.Rows > _options.Permutations)
            throw new ArgumentException(
                $"NearDuplicate: {Banding.Bands} bands × {Banding.Rows} rows needs 1..{_options.Permutations} " +
                    $"permutations.", nameof(options));
        _hasher = new MinHasher(_options.Permutations, _options.ShingleSize, _options.Seed);
        _bucketHead = new Dictionary<ulong, int>[Banding.Bands];
        _bucketNext = new List<int>[Banding.Bands];
        for (var b = 0; b < Banding.Bands; b++)
        {
            _bucketHead[b] = [];
            _bucketNext[b] = [];
        }
    }

    public LshBanding Banding { get; }
    public int Count => _lines.Count;

    /// <summary>The MinHash signature of a record (null when it has no words); exposed for inspection and
    /// tests.</summary>
    public ulong[]? Signature(DataRecord record) => _hasher.Signature(RecordText.Words(record));

    public static double EstimateJaccard(ulong[] a, ulong[] b) => MinHasher.EstimateJaccard(a, b);

    /// <summary>
    /// True when no indexed record is a near-duplicate (the record is then indexed); false with the line of the
    /// earliest indexed record it duplicates. Records without words are never duplicates and are not indexed.
    /// </summary>
    public bool TryAdd(DataRecord record, out long duplicateOfLine)
    {
        duplicateOfLine = 0;
        var signature = Signature(record);
        if (signature is null)
            return true;

        var bandHashes = new ulong[Banding.Bands];
        var best = int.MaxValue;
        var checkedCandidates = new HashSet<int>();
        for (var b = 0; b < Banding.Bands; b++)
        {
            bandHashes[b] = MinHasher.BandHash(signature, b, Banding.Rows);
            if (!_bucketHead[b].TryGetValue(bandHashes[b], out var candidate))
                continue;
            for (; candidate >= 0; candidate = _bucketNext[b][candidate])
            {
                if (candidate >= best || !checkedCandidates.Add(candidate))
                    continue;
                if (EstimateJaccard(signature, Stored(candidate)) >= _options.Threshold)
                    best = candidate;
            }
        }
        if (best != int.MaxValue)
        {
            duplicateOfLine = _lines[best];
            return false;
        }

        var index = _lines.Count;
        Store(index, signature);
        _lines.Add(record.Line);
        for (var b = 0; b < Banding.Bands; b++)
        {
            _bucketNext[b].Add(_bucketHead[b].TryGetValue(bandHashes[b], out var previous) ? previous : -1);
            _bucketHead[b][bandHashes[b]] = index;
        }
        return true;
    }

    void Store(int index, ulong[] signature)
    {
        int permutations = signature.Length;
        if (index % ChunkRecords == 0)
            _signatureChunks.Add(new uint[ChunkRecords * permutations]);
        var slot = _signatureChunks[index / ChunkRecords].AsSpan(index % ChunkRecords * permutations, permutations);
        for (int i = 0; i < permutations; i++)
            slot[i] = (uint)signature[i];
    }

    ReadOnlySpan<uint> Stored(int index)
    {
        int permutations = _options.Permutations;
        return _signatureChunks[index / ChunkRecords].AsSpan(index % ChunkRecords * permutations, permutations);
    }

    static double EstimateJaccard(ulong[] signature, ReadOnlySpan<uint> stored)
    {
        int equal = 0;
        for (int i = 0; i < stored.Length; i++)
            if ((uint)signature[i] == stored[i])
                equal++;
        return (double)equal / stored.Length;
    }
}
