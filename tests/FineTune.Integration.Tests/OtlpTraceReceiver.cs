// A minimal OTLP/HTTP trace receiver for the tests: the services export their spans to it (OTEL_EXPORTER_OTLP_ENDPOINT,
// http/protobuf), and it keeps (trace id, service.name, span name) per span. Reads just the fields it needs from
// ExportTraceServiceRequest: resource_spans(1) → resource(1).attributes(1) and scope_spans(2) → spans(2) → trace_id(1),
// name(5).
using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace FineTune.Integration.Tests;

public sealed record ReceivedSpan(string TraceId, string Service, string Name);

public sealed class OtlpTraceReceiver : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Task _loop;
    public ConcurrentBag<ReceivedSpan> Spans { get; } = [];
    public string Endpoint { get; }

    public OtlpTraceReceiver()
    {
        Endpoint = $"http://127.0.0.1:{ServiceCluster.FreePort()}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.Url?.AbsolutePath == "/v1/traces")
                try
                {
                    Parse(body.ToArray());
                }
                catch (FormatException)
                {
                }
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    void Parse(byte[] request)
    {
        foreach (var resourceSpans in Fields(request, 1))
        {
            string service = "";
            foreach (var resource in Fields(resourceSpans, 1))
                foreach (var attribute in Fields(resource, 1))
                {
                    var key = Encoding.UTF8.GetString(Fields(attribute, 1).FirstOrDefault() ?? []);
                    if (key == "service.name")
                        service = Encoding.UTF8.GetString(Fields(Fields(attribute, 2).First(),
                            1).FirstOrDefault() ?? []);
                }
            foreach (var scopeSpans in Fields(resourceSpans, 2))
                foreach (var span in Fields(scopeSpans, 2))
                    Spans.Add(new ReceivedSpan(Convert.ToHexString(Fields(span, 1).First()).ToLowerInvariant(), service,
                        Encoding.UTF8.GetString(Fields(span, 5).FirstOrDefault() ?? [])));
        }
    }

    // The length-delimited fields numbered `field` of one message.
    static IEnumerable<byte[]> Fields(byte[] message, int field)
    {
        var result = new List<byte[]>();
        int pos = 0;
        while (pos < message.Length)
        {
            ulong tag = Varint(message, ref pos);
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    Varint(message, ref pos);
                    break;
                case 1:
                    pos += 8;
                    break;
                case 5:
                    pos += 4;
                    break;
                case 2:
                    int length = checked((int)Varint(message, ref pos));
                    if (pos + length > message.Length)
                        throw new FormatException("truncated field");
                    if (number == field)
                        result.Add(message[pos..(pos + length)]);
                    pos += length;
                    break;
                default:
                    throw new FormatException($"wire type {wire}");
            }
        }
        return result;
    }

    static ulong Varint(byte[] data, ref int pos)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
                throw new FormatException("truncated varint");
            byte b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return value;
        }
        throw new FormatException("varint too long");
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
    }
}
