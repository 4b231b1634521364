// A top-level JSON array read element by element with a resumable Utf8JsonReader: memory holds one element, not
// the file. Records are numbered by element (1-based). Broken JSON ends the array: the rest is one invalid_json item.
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace FineTune.Data.Ingestion;

internal sealed class JsonArrayReader(ByteSource source, int maxRecordBytes)
{
    enum Step { NeedMore, Element, End }

    byte[] _buffer = new byte[64 * 1024];
    int _pos, _end;          // unread bytes are _buffer[_pos.._end]
    int _elementStart = -1;  // start of the element being read, kept across refills
    long _skippedBytes;      // > 0 while skipping an element over the size limit
    byte[]? _skippedPrefix;
    bool _eof, _started;
    JsonReaderState _state;

    public static IAsyncEnumerable<RawRecord> ReadAsync(ByteSource source, int maxRecordBytes, CancellationToken ct) =>
        new JsonArrayReader(source, maxRecordBytes).ReadAsync(ct);

    async IAsyncEnumerable<RawRecord> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        long index = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            Step step;
            int start = 0, length = 0;
            string? error = null;
            try
            {
                step = Scan(out start, out length);
            }
            catch (JsonException e)
            {
                step = Step.End;
                error = RawRecord.JsonError(e).Replace("of the record",
                    "of the array") + "; the rest of the array cannot be read";
            }
            if (error is not null)
            {
                var rest = Encoding.UTF8.GetString(_buffer, _elementStart >= 0 ? _elementStart : _pos,
                    Math.Min(_end - (_elementStart >= 0 ? _elementStart : _pos), 4096));
                yield return RawRecord.Fail(index + 1, rest, RejectCodes.InvalidJson, error);
                yield break;
            }
            if (step == Step.End)
            {
                if (await TrailingAsync(ct) is { } trailing)
                    yield return RawRecord.Fail(index + 1, trailing, RejectCodes.InvalidJson,
                        "content after the closing ']' of the array; a JSON array file holds one array");
                yield break;
            }
            if (step == Step.NeedMore)
            {
                if (_eof)
                    throw new InvalidOperationException("Utf8JsonReader asked for more data after the final block.");
                await FillAsync(ct);
                continue;
            }
            index++;
            if (_skippedPrefix is not null)
            {
                yield return RawRecord.TooLarge(index, _skippedPrefix, _skippedBytes + length, maxRecordBytes);
                _skippedPrefix = null;
                _skippedBytes = 0;
            }
            else if (length > maxRecordBytes) // one long string token cannot be skipped piecemeal; it was held whole
                yield return RawRecord.TooLarge(index, _buffer.AsSpan(start, Math.Min(length, 1024)), length,
                    maxRecordBytes);
            else
                yield return RawRecord.Json(index, _buffer.AsMemory(start, length));
        }
    }

    /// <summary>Reads tokens until one array element is complete (its bytes in the buffer), the array ends, or data
    /// runs out.</summary>
    Step Scan(out int start, out int length)
    {
        start = length = 0;
        if (!_started)
            _state = new JsonReaderState(new JsonReaderOptions { MaxDepth = 256 });
        var reader = new Utf8JsonReader(_buffer.AsSpan(_pos, _end - _pos), _eof, _state);
        try
        {
            while (reader.Read())
            {
                if (!_started)
                {
                    if (reader.TokenType != JsonTokenType.StartArray)
                        throw new JsonException($"expected '[' to open the array, found {reader.TokenType}.", null, 0,
                            reader.TokenStartIndex);
                    _started = true;
                    continue;
                }
                // the closing ']'
                if (reader.CurrentDepth == 0)
                    return Step.End;
                if (reader.CurrentDepth != 1)
                    continue;
                var tokenStart = _pos + (int)reader.TokenStartIndex;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    _elementStart = tokenStart;
                    continue;
                }
                if (reader.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray))
                    _elementStart = tokenStart; // a primitive element: one token
                start = _elementStart;
                length = _pos + (int)reader.BytesConsumed - _elementStart;
                _elementStart = -1;
                return Step.Element;
            }
            return Step.NeedMore;
        }
        finally
        {
            _pos += (int)reader.BytesConsumed;
            _state = reader.CurrentState;
        }
    }

    /// <summary>Non-blank text after the array (up to 4 KB), so nothing after ']' is silently dropped.</summary>
    async ValueTask<string?> TrailingAsync(CancellationToken ct)
    {
        while (true)
        {
            var at = _buffer.AsSpan(_pos, _end - _pos).IndexOfAnyExcept(" \t\r\n"u8);
            if (at >= 0)
                return Encoding.UTF8.GetString(_buffer, _pos + at, Math.Min(4096, _end - _pos - at));
            if (_eof)
                return null;
            _pos = _end;
            await FillAsync(ct);
        }
    }

    /// <summary>Compacts (keeping the element being read), grows when the element fills the buffer, and reads
    /// more.</summary>
    async ValueTask FillAsync(CancellationToken ct)
    {
        var keep = _elementStart >= 0 ? _elementStart : _pos;
        if (_elementStart >= 0 && _pos - _elementStart > maxRecordBytes)
        {
            // Over the limit: remember a prefix, then let go of the element's bytes while the reader walks past it.
            _skippedPrefix ??= _buffer.AsSpan(_elementStart, Math.Min(1024, _end - _elementStart)).ToArray();
            _skippedBytes += _pos - _elementStart;
            keep = _elementStart = _pos;
        }
        var live = _end - keep;
        var target = live > _buffer.Length / 2 ? new byte[checked(_buffer.Length * 2)] : _buffer;
        Buffer.BlockCopy(_buffer, keep, target, 0, live);
        _buffer = target;
        _pos -= keep;
        if (_elementStart >= 0)
            _elementStart -= keep;
        _end = live;
        // Fill the free space completely so the reader resumes with a large block, not a trickle.
        while (_end < _buffer.Length)
        {
            var chunk = await source.ReadAsync(_buffer.Length - _end, ct);
            if (chunk.IsEmpty)
            {
                _eof = true;
                break;
            }
            chunk.CopyTo(_buffer.AsMemory(_end));
            _end += chunk.Length;
        }
    }
}
