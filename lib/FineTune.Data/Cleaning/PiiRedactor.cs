// Replaces personal data by typed placeholders. Precision over recall: numbers are redacted only when their
// structure says what they are (Luhn for cards, mod-97 for IBANs, octet ranges for IPv4, parsing for IPv6).
// Order matters: e-mails, IBANs, cards and IPs go first so the phone pattern never sees their digits.
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace FineTune.Data.Cleaning;

public enum PiiType { Email, Phone, CreditCard, IpAddress, Iban }

public static partial class PiiRedactor
{
    public const string EmailPlaceholder = "[EMAIL]";
    public const string PhonePlaceholder = "[PHONE]";
    public const string CreditCardPlaceholder = "[CREDIT_CARD]";
    public const string IpPlaceholder = "[IP_ADDRESS]";
    public const string IbanPlaceholder = "[IBAN]";

    /// <summary>Redacts what <paramref name="options"/> enables; counts[(int)PiiType] grows by the redactions
    /// made.</summary>
    public static string Redact(string text, PiiOptions options, long[] counts)
    {
        var hasAt = text.Contains('@');
        if (!hasAt && !text.AsSpan().ContainsAnyInRange('0', '9'))
            return text;
        var s = text;
        if (options.Email && hasAt)
            s = Replace(s, Email(), PiiType.Email, counts, _ => EmailPlaceholder);
        if (options.Iban)
            s = Replace(s, IbanCandidate(), PiiType.Iban, counts, RedactIban);
        if (options.CreditCard)
            s = Replace(s, CardCandidate(), PiiType.CreditCard, counts,
            m => Luhn(m.Value) ? CreditCardPlaceholder : null);
        if (options.IpAddress)
        {
            s = Replace(s, Ipv6Candidate(), PiiType.IpAddress, counts, m => IsIpv6(m.Value) ? IpPlaceholder : null);
            s = Replace(s, Ipv4(), PiiType.IpAddress, counts, _ => IpPlaceholder);
        }
        if (options.Phone)
        {
            s = Replace(s, InternationalPhone(), PiiType.Phone, counts,
                m => CountDigits(m.Value) is >= 8 and <= 15 ? PhonePlaceholder : null);
            s = Replace(s, NanpPhone(), PiiType.Phone, counts, _ => PhonePlaceholder);
        }
        return s;
    }

    /// <summary>The evaluator returns the replacement, or null to keep the match (a near miss).</summary>
    static string Replace(string text, Regex regex, PiiType type, long[] counts, Func<Match, string?> evaluate)
    {
        var redacted = 0;
        var result = regex.Replace(text, m =>
        {
            var replacement = evaluate(m);
            if (replacement is null)
                return m.Value;
            redacted++;
            return replacement;
        });
        counts[(int)type] += redacted;
        return result;
    }

    // ---- Credit cards ----

    public static bool Luhn(string candidate)
    {
        int sum = 0, digits = 0;
        for (var i = candidate.Length - 1; i >= 0; i--)
        {
            if (!char.IsAsciiDigit(candidate[i]))
                continue;
            var d = candidate[i] - '0';
            if (digits++ % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                    d -= 9;
            }
            sum += d;
        }
        return digits is >= 13 and <= 19 && sum % 10 == 0;
    }

    // ---- IBAN ----

    /// <summary>The greedy candidate may run into following upper-case words; the longest valid prefix ending at a
    /// space wins.</summary>
    static string? RedactIban(Match m)
    {
        var value = m.Value;
        for (var end = value.Length; end >= 15; end--)
        {
            if (end < value.Length && value[end] != ' ')
                continue;
            var compact = value[..end].Replace(" ", "");
            if (compact.Length is >= 15 and <= 34 && IbanChecksumValid(compact))
                return IbanPlaceholder + value[end..];
        }
        return null;
    }

    /// <summary>ISO 13616: move the first four characters to the end, letters to 10..35, the number mod 97 must be
    /// 1.</summary>
    public static bool IbanChecksumValid(string compact)
    {
        var remainder = 0;
        for (var k = 0; k < compact.Length; k++)
        {
            var c = compact[(k + 4) % compact.Length];
            if (char.IsAsciiDigit(c))
                remainder = (remainder * 10 + (c - '0')) % 97;
            else if (char.IsAsciiLetterUpper(c))
                remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
            else
                return false;
        }
        return remainder == 1;
    }

    // ---- IP addresses ----

    static bool IsIpv6(string candidate)
    {
        // At least four hex digits, so "::", "::1" and C++'s "a ::b" are not addresses.
        var hex = 0;
        foreach (var c in candidate)
            if (char.IsAsciiHexDigit(c))
                hex++;
        return hex >= 4 && IPAddress.TryParse(candidate,
            out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    static int CountDigits(string s)
    {
        var n = 0;
        foreach (var c in s)
            if (char.IsAsciiDigit(c))
                n++;
        return n;
    }

    [GeneratedRegex(@"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])",
        RegexOptions.CultureInvariant)]
    private static partial Regex Email();

    [GeneratedRegex(@"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b", RegexOptions.CultureInvariant)]
    private static partial Regex IbanCandidate();

    // 13–19 digits with single space/hyphen separators, not touching further digits on either side.
    [GeneratedRegex(@"(?<!\d[ -]?)\d(?:[ -]?\d){12,18}(?![ -]?\d)", RegexOptions.CultureInvariant)]
    private static partial Regex CardCandidate();

    [GeneratedRegex(@"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\w)",
        RegexOptions.CultureInvariant)]
    private static partial Regex Ipv6Candidate();

    // A dotted quad of 0–255 octets that is not part of a longer dotted run: "1.2.3.4.5" is a version, not an IP.
    [GeneratedRegex(@"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\w)", RegexOptions.CultureInvariant)]
    private static partial Regex Ipv4();

    // +CC then 2–6 groups (digits or a parenthesised area code); 8–15 digits in all (E.164's maximum is 15).
    [GeneratedRegex(@"(?<![\w+])\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){2,6}(?!\w)", RegexOptions.CultureInvariant)]
    private static partial Regex InternationalPhone();

    // North American 3-3-4 with separators (bare 10-digit runs are ids and timestamps more often than phones).
    [GeneratedRegex(@"(?<![\w+.-])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[.-]\d)",
        RegexOptions.CultureInvariant)]
    private static partial Regex NanpPhone();
}
