// Writes tokenized examples into shard-00000.bin, shard-00001.bin, … in one directory, starting a new shard
// before the example that would take the current one past maxTokens. Each shard is written to .tmp, then renamed.
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FineTune.Data.Tokenization;

public sealed record ShardInfo(string File, long Examples, long Tokens, long TrainedTokens, long Bytes, string Sha256);

public sealed class ShardWriter : IDisposable
{
    private readonly string _directory;
    private readonly int _vocabSize;
    private readonly ShardKind _kind;
    private readonly long _maxTokens;
    private readonly List<ShardInfo> _shards = [];
    private readonly List<int> _ids = [];
    private readonly List<byte> _mask = [];
    private readonly List<long> _index = [];     // start, end per sequence
    private readonly List<long> _prompts = [];
    private long _examples, _trained;
    private bool _completed;

    public ShardWriter(string directory, int vocabSize, ShardKind kind, long maxTokens = 1L << 24)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokens);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("shards are written on little-endian machines only");
        Directory.CreateDirectory(directory);
        (_directory, _vocabSize, _kind, _maxTokens) = (directory, vocabSize, kind, maxTokens);
    }

    public IReadOnlyList<ShardInfo> Shards => _shards;
    public int TokenBytes => ShardHeader.TokenBytesFor(_vocabSize);
    public ShardKind Kind => _kind;

    /// <summary>Adds a kept example (one sequence in a Sequences shard, a pair in a Pairs shard); dropped examples are
    /// ignored.</summary>
    public void Add(TokenizedExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        ObjectDisposedException.ThrowIf(_completed, this);
        if (example.Dropped)
            return;
        if (example.Kind != _kind)
            throw new ArgumentException($"a {_kind} shard takes {_kind} examples; got a {example.Kind} example",
                nameof(example));
        long tokens = example.Sequences.Sum(s => (long)s.Length);
        if (_ids.Count > 0 && _ids.Count + tokens > _maxTokens)
            Flush();
        foreach (var s in example.Sequences)
        {
            if (s.Mask.Length != s.Ids.Length)
                throw new ArgumentException("ids and mask lengths differ", nameof(example));
            foreach (int id in s.Ids)
                if ((uint)id >= (uint)_vocabSize)
                    throw new ArgumentOutOfRangeException(nameof(example), id,
                        $"token id outside the vocabulary of {_vocabSize}");
            _index.Add(_ids.Count);
            _ids.AddRange(s.Ids);
            _mask.AddRange(s.Mask);
            _index.Add(_ids.Count);
            _trained += s.TrainedCount;
        }
        if (_kind == ShardKind.Pairs)
            _prompts.Add(example.PromptLength);
        else if (_kind == ShardKind.Feedback)
            _prompts.Add(example.Desirable is true ? 1 : 0);
        _examples++;
    }

    /// <summary>Writes the last shard (if it holds anything) and returns every shard written.</summary>
    public IReadOnlyList<ShardInfo> Complete()
    {
        if (!_completed && _ids.Count + _examples > 0)
            Flush();
        _completed = true;
        return _shards;
    }

    public void Dispose() => _completed = true;

    private void Flush()
    {
        string name = $"shard-{_shards.Count:D5}.bin";
        string path = Path.Combine(_directory, name), tmp = path + ".tmp";
        var header = new ShardHeader(TokenBytes, _kind, _examples, _index.Count / 2, _ids.Count, _vocabSize);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            void Put(ReadOnlySpan<byte> bytes)
            {
                fs.Write(bytes);
                hash.AppendData(bytes);
            }
            void Pad()
            {
                Span<byte> zeros = stackalloc byte[8];
                zeros.Clear();
                Put(zeros[..(int)(ShardHeader.Align8(fs.Position) - fs.Position)]);
            }
            Span<byte> h = stackalloc byte[ShardHeader.Size];
            header.Write(h);
            Put(h);
            var ids = CollectionsMarshal.AsSpan(_ids);
            if (header.TokenBytes == 4)
                Put(MemoryMarshal.AsBytes(ids));
            else
            {
                var narrow = new ushort[ids.Length];
                for (int i = 0; i < ids.Length; i++)
                    narrow[i] = (ushort)ids[i];
                Put(MemoryMarshal.AsBytes(narrow.AsSpan()));
            }
            Pad();
            Put(CollectionsMarshal.AsSpan(_mask));
            Pad();
            Put(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_index)));
            Put(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_prompts)));
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
        _shards.Add(new ShardInfo(name, _examples, _ids.Count, _trained, header.FileLength,
            Convert.ToHexStringLower(hash.GetHashAndReset())));
        _ids.Clear();
        _mask.Clear();
        _index.Clear();
        _prompts.Clear();
        _examples = 0;
        _trained = 0;
    }
}
