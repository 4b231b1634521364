// Each PII type is redacted by its placeholder, and the near misses its validation exists for are left alone.
using FineTune.Data.Cleaning;

namespace FineTune.Data.Tests.Cleaning;

public class PiiRedactionTests
{
    static (string Text, long[] Counts) Redact(string text, PiiOptions? options = null)
    {
        var counts = new long[Enum.GetValues<PiiType>().Length];
        return (PiiRedactor.Redact(text, options ?? new PiiOptions(), counts), counts);
    }

    [Theory]
    [InlineData("mail jane.doe+ft@example.co.uk now", "mail [EMAIL] now", PiiType.Email)]
    [InlineData("call +44 20 7946 0958 today", "call [PHONE] today", PiiType.Phone)]
    [InlineData("call (555) 123-4567.", "call [PHONE].", PiiType.Phone)]
    [InlineData("call 555-123-4567", "call [PHONE]", PiiType.Phone)]
    [InlineData("card 4111 1111 1111 1111 ok", "card [CREDIT_CARD] ok", PiiType.CreditCard)]
    [InlineData("card 5500-0000-0000-0004", "card [CREDIT_CARD]", PiiType.CreditCard)]
    [InlineData("card 4111111111111111", "card [CREDIT_CARD]", PiiType.CreditCard)]
    [InlineData("host 192.168.1.10.", "host [IP_ADDRESS].", PiiType.IpAddress)]
    [InlineData("url http://10.0.0.1:8080/x", "url http://[IP_ADDRESS]:8080/x", PiiType.IpAddress)]
    [InlineData("v6 2001:db8::8a2e:370:7334 here", "v6 [IP_ADDRESS] here", PiiType.IpAddress)]
    [InlineData("v6 fe80::1ff:fe23:4567:890a", "v6 [IP_ADDRESS]", PiiType.IpAddress)]
    [InlineData("pay DE89 3704 0044 0532 0130 00 TODAY", "pay [IBAN] TODAY", PiiType.Iban)]
    [InlineData("pay GB82WEST12345698765432", "pay [IBAN]", PiiType.Iban)]
    public void Redacts_each_type_with_its_placeholder(string input, string expected, PiiType type)
    {
        var (text, counts) = Redact(input);
        Assert.Equal(expected, text);
        Assert.Equal(1, counts[(int)type]);
        Assert.Equal(1, counts.Sum());
    }

    // Decisions: a version string (a dotted run longer than four parts) is not an IP; dates, times and bare digit
    // runs are not phones; a digit run failing Luhn is not a card; an IBAN with a wrong check is not an IBAN.
    [Theory]
    [InlineData("card 4111 1111 1111 1112 fails Luhn")]
    [InlineData("order 1234567890123456 fails Luhn")]
    [InlineData("pay DE89 3704 0044 0532 0130 01 bad checksum")]
    [InlineData("pay DE88370400440532013000 bad checksum")]
    [InlineData("version 1.2.3.4.5 is not an IP")]
    [InlineData("octet 999.1.1.1 is out of range")]
    [InlineData("at 12:30:45 on 2024-01-15")]
    [InlineData("std::vector<int> and a::b")]
    [InlineData("ticket 5551234567 is an id")]
    [InlineData("user@localhost has no domain, @handle is no mail")]
    public void Leaves_near_misses_alone(string input)
    {
        var (text, counts) = Redact(input);
        Assert.Equal(input, text);
        Assert.Equal(0, counts.Sum());
    }

    [Fact]
    public void Checks_the_algorithms_on_known_values()
    {
        Assert.False(PiiRedactor.Luhn("79927398713"));   // Luhn-valid, but 11 digits is too short for a card
        Assert.True(PiiRedactor.Luhn("4111111111111111"));
        Assert.False(PiiRedactor.Luhn("4111111111111112"));
        Assert.True(PiiRedactor.IbanChecksumValid("DE89370400440532013000"));
        Assert.False(PiiRedactor.IbanChecksumValid("DE89370400440532013001"));
    }

    [Fact]
    public void Honours_the_switches_per_type()
    {
        var (text, _) = Redact("a@b.org 192.168.0.1", new PiiOptions { Email = false });
        Assert.Equal("a@b.org [IP_ADDRESS]", text);
    }
}
