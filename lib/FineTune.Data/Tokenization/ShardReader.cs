// Reads a token shard through a read-only memory map: the header and sizes are checked on open,
// each example is read on its own from the index without touching the rest of the file.
using System.IO.MemoryMappedFiles;

namespace FineTune.Data.Tokenization;

public sealed unsafe class ShardReader : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly ShardHeader _header;
    private byte* _base;

    private ShardReader(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, ShardHeader header,
        byte* basePtr)
    {
        (Path, _file, _view, _header) = (path, file, view, header);
        _base = basePtr;
    }

    public static ShardReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"shard '{path}' does not exist (did tokenization finish?)", path);
        long length = new FileInfo(path).Length;
        // throws the "truncated" error
        if (length < ShardHeader.Size)
            ShardHeader.Read([], length, path);
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        p += view.PointerOffset;
        try
        {
            var header = ShardHeader.Read(new ReadOnlySpan<byte>(p, ShardHeader.Size), length, path);
            return new ShardReader(path, file, view, header, p);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            file.Dispose();
            throw;
        }
    }

    public string Path { get; }
    public ShardKind Kind => _header.Kind;
    /// <summary>Number of examples (pairs count once).</summary>
    public long Count => _header.Examples;
    public long TokenCount => _header.Tokens;
    public int TokenBytes => _header.TokenBytes;
    public int VocabSize => _header.VocabSize;

    /// <summary>Example i as ids and mask (copied out of the map); a pair also carries its prompt length.</summary>
    public TokenizedExample ReadExample(long i)
    {
        CheckExample(i);
        if (Kind == ShardKind.Sequences)
            return new([ReadSequence(i)], 0, false, false);
        if (Kind == ShardKind.Feedback)
        {
            long rating = *(long*)(Base + _header.PromptsOffset + i * 8);
            if (rating is not (0 or 1))
                throw ShardHeader.Bad(Path, $"example {i} has rating {rating}; expected 1 (desirable) or 0");
            return new([ReadSequence(i)], 0, false, false) { Desirable = rating == 1 };
        }
        long prompt = *(long*)(Base + _header.PromptsOffset + i * 8);
        var chosen = ReadSequence(2 * i);
        var rejected = ReadSequence(2 * i + 1);
        if (prompt < 0 || prompt > Math.Min(chosen.Length, rejected.Length))
            throw ShardHeader.Bad(Path,
                $"example {i} has prompt length {prompt} outside its sequences ({chosen.Length}, {rejected.Length} " +
                $"tokens)");
        return new([chosen, rejected], (int)prompt, false, false);
    }

    /// <summary>The mask bytes of sequence s (example s, or 2i / 2i+1 for a pair's chosen / rejected), without
    /// copying.</summary>
    public ReadOnlySpan<byte> MaskOf(long s)
    {
        var (start, end) = Range(s);
        return new ReadOnlySpan<byte>(Base + _header.MaskOffset + start, (int)(end - start));
    }

    /// <summary>The ids of sequence s as stored (uint16 or int32 little-endian), without copying.</summary>
    public ReadOnlySpan<byte> RawIdsOf(long s)
    {
        var (start, end) = Range(s);
        return new ReadOnlySpan<byte>(Base + _header.TokensOffset + start * TokenBytes,
            (int)(end - start) * TokenBytes);
    }

    public TokenizedSequence ReadSequence(long s)
    {
        var mask = MaskOf(s).ToArray();
        var raw = RawIdsOf(s);
        var ids = new int[mask.Length];
        if (TokenBytes == 2)
            for (int i = 0; i < ids.Length; i++)
                ids[i] = raw[2 * i] | raw[2 * i + 1] << 8;
        else
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw).CopyTo(ids);
        return new TokenizedSequence(ids, mask);
    }

    private (long Start, long End) Range(long s)
    {
        if ((ulong)s >= (ulong)_header.Sequences)
            throw new ArgumentOutOfRangeException(nameof(s), s, $"shard '{Path}' has {_header.Sequences} sequences");
        long* index = (long*)(Base + _header.IndexOffset);
        long start = index[2 * s], end = index[2 * s + 1];
        if (start < 0 || end < start || end > _header.Tokens || end - start > int.MaxValue)
            throw ShardHeader.Bad(Path,
                $"has a corrupt index entry for sequence {s}: [{start}, {end}) with {_header.Tokens} tokens");
        return (start, end);
    }

    private void CheckExample(long i)
    {
        if ((ulong)i >= (ulong)Count)
            throw new ArgumentOutOfRangeException(nameof(i), i, $"shard '{Path}' has {Count} examples");
    }

    private byte* Base
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base is null, this);
            return _base;
        }
    }

    public void Dispose()
    {
        if (_base is null)
            return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
