// A buffered byte reader over a stream that can peek at the start and hand out lines without decoding them.
// The buffer grows to the longest line seen (never the whole file); a line over the limit is skipped, keeping a prefix.
namespace FineTune.Data.Ingestion;

/// <summary>One line without its terminator. Bytes is valid until the next read. Length counts skipped bytes
/// too.</summary>
internal readonly record struct ByteLine(ReadOnlyMemory<byte> Bytes, bool HadCr, long Length, bool TooLarge);

internal sealed class ByteSource(Stream stream, int maxLineBytes) : IAsyncDisposable
{
    const int PrefixKept = 1024;
    byte[] _buffer = new byte[64 * 1024];
    int _start, _end;
    bool _eof;

    public Stream Stream => stream;

    /// <summary>The unread bytes in the buffer after making sure at least <paramref name="count"/> are there (or
    /// EOF).</summary>
    public async ValueTask<ReadOnlyMemory<byte>> PeekAsync(int count, CancellationToken ct)
    {
        while (_end - _start < count && await FillAsync(ct))
        {
        }
        return _buffer.AsMemory(_start, _end - _start);
    }

    public void Skip(int count) => _start += Math.Min(count, _end - _start);

    /// <summary>Hands out up to <paramref name="count"/> unread bytes, consuming them. Empty at EOF.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(int count, CancellationToken ct)
    {
        if (_start == _end)
            await FillAsync(ct);
        var n = Math.Min(count, _end - _start);
        var chunk = _buffer.AsMemory(_start, n);
        _start += n;
        return chunk;
    }

    /// <summary>The next line (LF-terminated; a CR before the LF is removed), or null at EOF.</summary>
    public async ValueTask<ByteLine?> ReadLineAsync(CancellationToken ct)
    {
        var scanned = 0;
        while (true)
        {
            var newline = _buffer.AsSpan(_start + scanned, _end - _start - scanned).IndexOf((byte)'\n');
            if (newline >= 0)
                return Take(scanned + newline, consumed: scanned + newline + 1);
            scanned = _end - _start;
            if (scanned > maxLineBytes)
                return await SkipLongLineAsync(ct);
            if (!await FillAsync(ct))
                return scanned == 0 ? null : Take(scanned, consumed: scanned);
        }
    }

    ByteLine Take(int length, int consumed)
    {
        var hadCr = length > 0 && _buffer[_start + length - 1] == (byte)'\r';
        var line = _buffer.AsMemory(_start, hadCr ? length - 1 : length);
        _start += consumed;
        return new ByteLine(line, hadCr, line.Length, TooLarge: false);
    }

    // Keeps the first PrefixKept bytes (for the rejects file), counts and drops the rest up to the next LF.
    async ValueTask<ByteLine> SkipLongLineAsync(CancellationToken ct)
    {
        var prefix = _buffer.AsSpan(_start, Math.Min(PrefixKept, _end - _start)).ToArray();
        long length = 0;
        while (true)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                length += newline;
                _start += newline + 1;
                return new ByteLine(prefix, false, length, TooLarge: true);
            }
            length += _end - _start;
            _start = _end;
            if (!await FillAsync(ct))
                return new ByteLine(prefix, false, length, TooLarge: true);
        }
    }

    /// <summary>Reads more bytes, compacting or growing the buffer first. False at EOF.</summary>
    async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        if (_eof)
            return false;
        if (_start > 0 && _start == _end)
            _start = _end = 0;
        if (_end == _buffer.Length)
        {
            var live = _end - _start;
            var target = live > _buffer.Length / 2 ? new byte[checked(_buffer.Length * 2)] : _buffer;
            Buffer.BlockCopy(_buffer, _start, target, 0, live);
            _buffer = target;
            _start = 0;
            _end = live;
        }
        var read = await stream.ReadAsync(_buffer.AsMemory(_end), ct);
        if (read == 0)
        {
            _eof = true;
            return false;
        }
        _end += read;
        return true;
    }

    public ValueTask DisposeAsync() => stream.DisposeAsync();
}
