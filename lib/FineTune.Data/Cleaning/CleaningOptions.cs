// Options of the cleaning step (bound from the "Cleaning" configuration section by the Ingestion service).
// Every step can be switched off; defaults are the ones a chat fine-tuning set wants.
using System.ComponentModel.DataAnnotations;

namespace FineTune.Data.Cleaning;

public enum UnicodeNormalization { None, NFC, NFKC }

/// <summary>Which kinds of personal data are replaced by a typed placeholder ([EMAIL], [PHONE], ...).</summary>
public sealed record PiiOptions
{
    public bool Email { get; init; } = true;
    public bool Phone { get; init; } = true;
    /// <summary>13–19 digits, optionally separated by single spaces or hyphens, that pass the Luhn check.</summary>
    public bool CreditCard { get; init; } = true;
    /// <summary>IPv4 dotted quads (not part of a longer dotted run such as 1.2.3.4.5) and IPv6 addresses.</summary>
    public bool IpAddress { get; init; } = true;
    /// <summary>Upper-case IBANs (country code, check digits, 11–30 alphanumerics) whose mod-97 checksum is
    /// 1.</summary>
    public bool Iban { get; init; } = true;

    public bool Any => Email || Phone || CreditCard || IpAddress || Iban;
}

public sealed record CleaningOptions
{
    public UnicodeNormalization Normalization { get; init; } = UnicodeNormalization.NFC;

    /// <summary>Drop C0/C1 control characters except \n and \t; \r\n and lone \r become \n.</summary>
    public bool RemoveControlCharacters { get; init; } = true;

    /// <summary>
    /// Trim each content, collapse runs of spaces/tabs inside a line, drop trailing spaces, keep at most two
    /// consecutive newlines. A line's leading indentation is kept: in code samples it is syntax.
    /// </summary>
    public bool NormalizeWhitespace { get; init; } = true;

    /// <summary>Remove tags, drop script/style contents, decode entities. Off by default: chat data quotes HTML on
    /// purpose.</summary>
    public bool StripHtml { get; init; }

    public PiiOptions Pii { get; init; } = new();

    /// <summary>Bounds on the sum of a record's content lengths (UTF-16 code units) after cleaning.</summary>
    [Range(0, int.MaxValue)]
    public int MinChars { get; init; } = 1;

    [Range(1, int.MaxValue)]
    public int MaxChars { get; init; } = 100_000;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MinChars);
        if (MaxChars < MinChars)
            throw new ArgumentOutOfRangeException(nameof(MaxChars), MaxChars,
                $"Cleaning:MaxChars ({MaxChars}) is below Cleaning:MinChars ({MinChars}); raise MaxChars or lower " +
                    $"MinChars.");
        if (!Enum.IsDefined(Normalization))
            throw new ArgumentOutOfRangeException(nameof(Normalization), Normalization,
                "Cleaning:Normalization must be None, NFC or NFKC.");
    }
}
