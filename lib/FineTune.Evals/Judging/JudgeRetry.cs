// Which judge request failures are worth retrying (429, 408, 5xx, lost connections, timeouts) and how long to wait:
// the server's Retry-After / retry-after-ms when present, else exponential back-off with jitter, both capped.
using System.ClientModel;
using System.Globalization;
using System.Net;

namespace FineTune.Evals.Judging;

internal static class JudgeRetry
{
    /// <summary>True for transient failures; <paramref name="retryAfter"/> is the delay the server asked for, if
    /// any.</summary>
    public static bool IsTransient(Exception ex, out TimeSpan? retryAfter)
    {
        retryAfter = null;
        switch (ex)
        {
            case ClientResultException cre:
                if (cre.Status != 0 && !IsTransientStatus(cre.Status))
                    return false;
                var response = cre.GetRawResponse();
                if (response is not null)
                {
                    response.Headers.TryGetValue("retry-after-ms", out var ms);
                    response.Headers.TryGetValue("Retry-After", out var ra);
                    retryAfter = ParseRetryAfter(ms, ra, DateTimeOffset.UtcNow);
                }
                return true;   // status 0: no response at all (connection refused or reset)
            case HttpRequestException hre:
                return hre.StatusCode is null || IsTransientStatus((int)hre.StatusCode);
            case TimeoutException or IOException:
                return true;
            default:
                return ex.InnerException is not null && IsTransient(ex.InnerException, out retryAfter);
        }
    }

    /// <summary>True when the failure carries an HTTP status: the endpoint answered, if with an error.</summary>
    public static bool HasStatus(Exception ex) => ex switch
    {
        ClientResultException cre => cre.Status != 0,
        HttpRequestException hre => hre.StatusCode is not null,
        _ => ex.InnerException is not null && HasStatus(ex.InnerException),
    };

    /// <summary>True for client errors that mean the configuration is wrong for every item (key, model, URL).</summary>
    public static bool IsConfigurationError(Exception ex) =>
        ex is ClientResultException
        {
            Status: (int)HttpStatusCode.Unauthorized or (int)HttpStatusCode.Forbidden
            or (int)HttpStatusCode.NotFound
        };

    static bool IsTransientStatus(int status) => status is 408 or 409 or 429 || status >= 500;

    /// <summary>Milliseconds header first, then Retry-After as delta-seconds or an HTTP date.</summary>
    internal static TimeSpan? ParseRetryAfter(string? milliseconds, string? retryAfter, DateTimeOffset now)
    {
        if (double.TryParse(milliseconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0)
            return TimeSpan.FromMilliseconds(ms);
        if (string.IsNullOrWhiteSpace(retryAfter))
            return null;
        if (double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture,
            out var seconds) && seconds >= 0)
            return TimeSpan.FromSeconds(seconds);
        if (DateTimeOffset.TryParse(retryAfter, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal,
            out var at))
            return at > now ? at - now : TimeSpan.Zero;
        return null;
    }

    /// <summary>Delay before retry number <paramref name="retry"/> (0-based): Retry-After if given, else base·2^retry
    /// plus up to 25% jitter so that concurrent workers do not retry in lockstep; never above <paramref
    /// name="max"/>.</summary>
    public static TimeSpan Delay(int retry, TimeSpan? retryAfter, TimeSpan baseDelay, TimeSpan max)
    {
        if (retryAfter is { } asked)
            return asked < max ? asked : max;
        var ms = baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry, 30));
        ms += ms * 0.25 * Random.Shared.NextDouble();
        return TimeSpan.FromMilliseconds(Math.Min(ms, max.TotalMilliseconds));
    }
}
