// Plain-text documents for pre-training a small base model in the demo's domain, deterministic for a seed: support
// e-mails and chats, product pages, how-to and FAQ articles, short stories, grammar-built prose, JSON records and
// ChatML conversations (so the template's tokens are known). Its own wording: never the SupportTickets tickets or
// answers verbatim.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FineTune.Demo;

public static class PretrainCorpus
{
    /// <summary>Documents until their UTF-8 text reaches <paramref name="targetBytes"/> (the last one may pass
    /// it).</summary>
    public static IEnumerable<string> Generate(int seed, long targetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetBytes);
        var writer = new CorpusWriter(new Random(seed));
        for (long bytes = 0; bytes < targetBytes;)
        {
            var document = writer.Next();
            bytes += Encoding.UTF8.GetByteCount(document);
            yield return document;
        }
    }

    /// <summary>Writes the documents as JSONL (<c>{"text": …}</c>, the data stages' text format); returns the file's
    /// SHA-256 (hex).</summary>
    public static async Task<string> WriteAsync(string path, int seed, long targetBytes,
        CancellationToken cancellationToken = default)
    {
        await using (var writer = new StreamWriter(path, append: false, new UTF8Encoding(false)))
            foreach (var document in Generate(seed, targetBytes))
                await writer.WriteLineAsync(JsonSerializer.Serialize(new { text = document }).AsMemory(),
                    cancellationToken);
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }

    /// <summary>Reads the documents of a file <see cref="WriteAsync"/> wrote.</summary>
    public static IEnumerable<string> Read(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0)
                continue;
            using var json = JsonDocument.Parse(line);
            yield return json.RootElement.GetProperty("text").GetString() ?? "";
        }
    }
}

file sealed class CorpusWriter(Random random)
{
    sealed record Product(string Name, string Kind, string[] Features);
    sealed record Problem(string Category, string Priority, string Text, string Summary, string[] Replies);

    static readonly Product[] Products =
    [
        new("Aurora router", "router",
            ["covers a whole house with Wi-Fi", "sets up in five minutes from the app", "has four gigabit ports",
            "installs updates at night"]),
        new("Nimbus app", "app",
            ["syncs notes between phone and laptop", "works offline", "has a dark theme",
            "backs up to the cloud every hour"]),
        new("Vela headphones", "headphones",
            ["cancel background noise", "last thirty hours on one charge", "fold flat into a small case",
            "pair with two devices at once"]),
        new("Orbit watch", "watch",
            ["tracks sleep and steps", "shows messages from your phone", "is water resistant to fifty meters",
            "charges in about an hour"]),
        new("Lumen lamp", "lamp",
            ["dims from warm to cool light", "turns on with a tap", "follows a sunrise schedule",
            "uses less than ten watts"]),
        new("Pico camera", "camera",
            ["records sharp 4K video", "fits in a shirt pocket", "keeps shaky footage steady",
            "uploads clips over Wi-Fi"]),
        new("Terra speaker", "speaker",
            ["fills a room with warm sound", "survives rain and sand", "plays for twenty hours",
            "links with a second speaker"]),
        new("Halo keyboard", "keyboard",
            ["has quiet backlit keys", "switches between three computers", "runs for months on two batteries",
            "folds in half for travel"]),
        new("Zephyr fan", "fan",
            ["moves air without a sound", "oscillates across the room", "has a night mode", "turns off on a timer"]),
        new("Comet charger", "charger",
            ["charges a laptop and a phone together", "folds its plug away", "stays cool while it works",
            "works in over a hundred countries"]),
        new("Echo doorbell", "doorbell",
            ["shows who is at the door on your phone", "records motion at night", "runs on a battery for six months",
            "talks to visitors while you are away"]),
        new("Nova tablet", "tablet",
            ["has a bright ten-inch screen", "runs all day on a charge", "works with a stylus",
            "lets children have their own profiles"]),
        new("Ripple kettle", "kettle",
            ["boils a litre in three minutes", "holds water at the temperature you choose", "switches itself off",
            "has a filter for hard water"]),
        new("Sierra monitor", "monitor",
            ["shows true colours for photo work", "charges a laptop over one cable", "tilts and swivels",
            "reduces blue light in the evening"]),
    ];

    static readonly string[] FirstNames =
    [
        "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
            "Nora", "Oskar", "Priya",
        "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yara", "Zoë", "José", "Søren", "Aiko", "Björn",
            "Chen", "Amara", "Luca",
    ];
    static readonly string[] LastNames = ["Silva", "Okafor", "Müller", "Tanaka", "Novak", "Haddad", "Kim", "Larsen",
        "Moreau", "Patel", "Rossi", "Costa", "Ivanova", "Nakamura", "Brennan"];
    static readonly string[] Countries = ["Canada", "Portugal", "Japan", "Kenya", "Norway", "Chile", "Ireland",
        "India", "Poland", "New Zealand"];
    static readonly string[] Cities = ["Lisbon", "Osaka", "Nairobi", "Oslo", "Santiago", "Dublin", "Pune", "Kraków",
        "Toronto", "Wellington", "Zürich", "São Paulo"];
    static readonly string[] Ago = ["yesterday", "two days ago", "last week", "a month ago", "on Friday",
        "this morning", "three weeks ago"];
    static readonly string[] Since = ["since yesterday", "for two days", "for over a week", "since the last update",
        "for about an hour", "since Monday", "all weekend"];
    static readonly string[] Symptoms =
    [
        "keeps restarting", "will not turn on", "drops the connection", "shows a blinking red light",
            "runs very slowly", "will not pair with my phone",
        "gets hot", "makes a buzzing noise", "forgets its settings", "will not charge", "freezes on the start screen",
            "turns off by itself",
    ];

    // Each problem: how a customer puts it, how a triager sums it up, and the replies an agent gives.
    static readonly Problem[] Problems =
    [
        new("billing", "high", "There are two charges of {amount} on my card for one {product}.",
            "Two identical {amount} charges appeared for a single {product}.",
            ["I can see the duplicate payment and have asked our billing team to reverse it today.",
                "I have refunded the second charge of {amount}; it should reach your card within five business days."]),
        new("billing", "high", "I cancelled my {product} plan {ago}, but I was billed {amount} again.",
            "A cancelled {product} plan was billed {amount} again.",
            ["Your plan is now fully closed and the {amount} is on its way back to your card.",
                "The renewal should not have run; I have refunded {amount} and stopped further payments."]),
        new("billing", "medium", "The receipt for my {product} says {amount}, which is more than I paid at checkout.",
            "The {product} receipt shows {amount}, above the checkout price.",
            ["The receipt included shipping by mistake; a corrected copy is attached.",
                "I have issued a new receipt with the checkout price and refunded the difference."]),
        new("billing", "medium", "My coupon should have taken {amount} off the {product}, but it did not apply.",
            "A coupon worth {amount} was not applied to a {product}.",
            ["I have credited {amount} to your account so the coupon still counts.",
                "The coupon had expired a day earlier, but I have honoured it and refunded {amount}."]),
        new("billing", "low", "Where can I download a receipt for the {product} I bought {ago}?",
            "The customer wants to download a receipt for a {product}.",
            ["Every receipt is under Orders in your profile; I have also attached this one to the e-mail."]),
        new("billing", "low", "Can I move my {product} plan from monthly to yearly billing?",
            "The customer asks to switch a {product} plan to yearly billing.",
            ["Your plan now renews once a year, and the unused part of this month has been credited."]),
        new("technical", "high", "My {product} is completely dead and does not even show a light.",
            "The {product} shows no sign of power at all.",
            ["We are sending a replacement {kind} today, together with a prepaid label for the old one.",
                "Please try a different cable and outlet; if it stays dark, we will replace it at once."]),
        new("technical", "medium", "My {product} {symptom} {since}.", "The {product} {symptom} {since}.",
            ["Please hold the reset button for ten seconds and let the {kind} restart on its own.",
                "Could you tell me which firmware version is shown under Settings, then About?",
             "Please unplug the {kind} for a minute, plug it back in and try again."]),
        new("technical", "medium", "Ever since the update the {kind} {symptom}.",
            "After an update the {product} {symptom}.",
            ["A fix for this is part of the next update, which arrives later this week.",
                "You can roll back to the previous version under Settings, then Updates."]),
        new("technical", "low", "Is there a way to change the language on the {product}?",
            "The customer asks how to change the {product} language.",
            ["Yes: open Settings, then Language, and pick the one you like."]),
        new("technical", "low", "Does the {product} work with a second {kind}?",
            "The customer asks whether the {product} works with another {kind}.",
            ["It does; add the second one from the app under Devices."]),
        new("account", "high", "Somebody signed in to my account from {country} and it was not me.",
            "An unknown sign-in from {country} was reported on the account.",
            ["For your safety we signed out every device and turned on two-step sign-in.",
                "I have locked the account and sent you a link to choose a new password."]),
        new("account", "high",
            "I am locked out of my account after too many password attempts and I need it for work.",
            "The customer is locked out after failed password attempts.",
            ["I have unlocked the account and sent a reset link to the address on file."]),
        new("account", "medium", "The sign-in code for my {product} account never arrives by text message.",
            "Sign-in codes for a {product} account are not arriving.",
            ["I have switched your sign-in codes to e-mail for now; texts should work again tomorrow."]),
        new("account", "medium", "Please delete my account and all the data you keep about me.",
            "The customer asks for the account and its data to be deleted.",
            ["Your account and its data will be removed within thirty days, and we will confirm by e-mail."]),
        new("account", "low", "I would like to use {email} for my account from now on.",
            "The customer wants the account e-mail changed to a new address.",
            ["The new address is saved; a confirmation link is on its way to it."]),
        new("shipping", "high", "The courier says order {order} was delivered, but nothing came to my door.",
            "Order {order} is marked delivered but was not received.",
            ["I have opened a claim with the courier and a new {product} ships tomorrow at no cost."]),
        new("shipping", "high", "My {product} arrived with a cracked case and a torn box.",
            "A {product} arrived damaged in a torn box.",
            ["I am sending a new {product} today; please keep the damaged one until the courier collects it."]),
        new("shipping", "medium", "The tracking for order {order} has not moved {since}.",
            "Tracking for order {order} has not updated {since}.",
            ["The parcel is at the local depot and should reach you within two days."]),
        new("shipping", "medium", "Only half of order {order} arrived; the {product} is missing.",
            "The {product} is missing from a partial delivery of order {order}.",
            ["The {product} was packed separately and left our warehouse this morning."]),
        new("shipping", "low", "Do you ship the {product} to {country}?",
            "The customer asks about shipping a {product} to {country}.",
            ["We do; delivery to {country} usually takes five to eight working days."]),
        new("shipping", "low", "Could you hold order {order} until I am back from holiday?",
            "The customer asks to delay delivery of order {order}.",
            ["Your order is on hold and will leave our warehouse on the date you choose."]),
    ];

    static readonly string[] Greetings = ["", "Hello. ", "Hi there. ", "Good evening. ", "Dear support,\n", "Hi! ",
        "Hallo! ", "Hey team — "];
    static readonly string[] SignOffs = ["", " Thank you in advance.", " Many thanks.", " Cheers.", " Best wishes.",
        " I appreciate your help 🙂", " Merci!", " Kind regards…"];
    static readonly string[] Empathy = ["I am sorry for the trouble.", "Thanks for letting us know.",
        "I understand how frustrating that is.", "Sorry about the wait.", "Thank you for your patience."];
    static readonly string[] Statuses = ["open", "pending", "resolved", "escalated", "waiting on customer"];

    public string Next()
    {
        int kind = random.Next(100);
        return kind switch
        {
            < 15 => Email(),
            < 25 => Chat(),
            < 34 => ProductPage(),
            < 40 => HowTo(),
            < 44 => Faq(),
            < 56 => Story(),
            < 74 => Prose(),
            < 83 => JsonRecords(),
            _ => ChatMl(),
        };
    }

    // ---- Prose: a small grammar over everyday and support words, for text that is grammatical but not templated ----

    static readonly string[] Nouns =
    [
        "river", "window", "garden", "letter", "parcel", "invoice", "screen", "battery", "kitchen", "neighbour",
            "teacher", "market", "bicycle",
        "engine", "song", "question", "answer", "promise", "ticket", "manager", "warehouse", "customer", "cable",
            "meeting", "holiday", "forest",
        "street", "message", "password", "printer", "recipe", "village", "island", "painting", "doctor", "library",
            "lantern", "suitcase", "report",
        "umbrella", "harbour", "computer", "mountain", "friend", "problem", "storm", "office", "camera", "receipt",
            "bridge", "notebook", "phone",
    ];
    static readonly string[] Adjectives =
    [
        "old", "new", "quiet", "broken", "bright", "heavy", "small", "careful", "strange", "warm", "cold", "busy",
            "empty", "patient", "late",
        "simple", "green", "tired", "honest", "lucky", "narrow", "gentle", "noisy", "clever", "wooden", "useful",
            "famous", "slow", "sudden", "friendly",
    ];
    static readonly (string Base, string Past, string Participle)[] Verbs =
    [
        ("open", "opened", "opened"), ("carry", "carried", "carried"), ("find", "found", "found"),
            ("fix", "fixed", "fixed"),
        ("send", "sent", "sent"), ("watch", "watched", "watched"), ("repair", "repaired", "repaired"),
            ("answer", "answered", "answered"),
        ("paint", "painted", "painted"), ("forget", "forgot", "forgotten"), ("check", "checked", "checked"),
        ("follow", "followed", "followed"), ("build", "built", "built"), ("clean", "cleaned", "cleaned"),
        ("return", "returned", "returned"), ("move", "moved", "moved"), ("order", "ordered", "ordered"),
            ("read", "read", "read"),
        ("write", "wrote", "written"), ("lose", "lost", "lost"), ("replace", "replaced", "replaced"),
            ("visit", "visited", "visited"),
        ("explain", "explained", "explained"), ("choose", "chose", "chosen"), ("pack", "packed", "packed"),
            ("test", "tested", "tested"),
    ];
    static readonly string[] Adverbs = ["slowly", "quickly", "carefully", "again", "at once", "without a word",
        "for a long time", "twice", "happily", "in secret"];
    static readonly string[] Prepositions = ["near", "behind", "under", "beside", "inside", "across", "above",
        "next to", "far from", "around"];
    static readonly string[] Times = ["in the morning", "after lunch", "on Sunday", "before dawn", "every evening",
        "last spring", "that night", "in March", "at noon"];

    string NounPhrase()
    {
        var words = (Chance(0.4) ? Pick(Adjectives) + " " : "") + Pick(Nouns);
        return (Chance(0.5) ? "the " : "aeiou".Contains(words[0]) ? "an " : "a ") + words;
    }

    string Sentence()
    {
        var verb = Pick(Verbs);
        string subject = Chance(0.4) ? Pick(FirstNames) : NounPhrase(),
            Subject = char.ToUpperInvariant(subject[0]) + subject[1..];
        return random.Next(7) switch
        {
            0 => $"{Subject} {verb.Past} {NounPhrase()} {Pick(Prepositions)} {NounPhrase()}.",
            1 => $"{Subject} {verb.Past} {NounPhrase()} {Pick(Adverbs)}, because {NounPhrase()} was " +
                $"{Pick(Adjectives)}.",
            2 => $"When {NounPhrase()} was {Pick(Adjectives)}, {subject} {verb.Past} {NounPhrase()} {Pick(Times)}.",
            3 => $"Why did {subject} {verb.Base} {NounPhrase()} {Pick(Times)}?",
            4 => $"{Subject} will {verb.Base} {NounPhrase()} {Pick(Times)}, and then {Pick(Verbs).Base} " +
                $"{NounPhrase()}.",
            5 => $"Nobody knew that {subject} had {verb.Participle} {NounPhrase()}.",
            _ => $"{Subject} {verb.Past} {NounPhrase()}; {NounPhrase()} {Pick(Verbs).Past} {NounPhrase()} " +
                $"{Pick(Prepositions)} {NounPhrase()}.",
        };
    }

    string Prose()
    {
        var paragraphs = Enumerable.Range(0, random.Next(1, 4))
            .Select(_ => string.Join(' ', Enumerable.Range(0, random.Next(3, 8)).Select(_ => Sentence())));
        return string.Join("\n\n", paragraphs);
    }

    T Pick<T>(T[] items) => items[random.Next(items.Length)];
    bool Chance(double p) => random.NextDouble() < p;
    string Amount() => Chance(0.8)
        ? "$" + (random.Next(3, 400) + random.Next(0, 100) / 100.0).ToString("F2", CultureInfo.InvariantCulture)
        : (random.Next(3, 400) + random.Next(0, 100) / 100.0).ToString("F2", CultureInfo.InvariantCulture) + " €";
    string Order() => "A-" + random.Next(10000, 99999).ToString(CultureInfo.InvariantCulture);
    string Email(string first, string last) =>
        $"{Ascii(first).ToLowerInvariant()}.{Ascii(last).ToLowerInvariant()}@{Pick(new[] { "mail.com", "example.org", "post.net", "inbox.io" })}";
    static string Ascii(string s) => new([.. s.Normalize(NormalizationForm.FormD).Where(c => c < 128)]);

    // Fills {slot}s from one set of choices per text, so a summary says the same amount and product as its ticket.
    sealed class Slots(CorpusWriter w, Product product)
    {
        readonly Dictionary<string, string> _values = new() { ["product"] = product.Name, ["kind"] = product.Kind };
        public Product Product => product;
        public string Fill(string template)
        {
            var sb = new StringBuilder(template.Length + 32);
            for (int i = 0; i < template.Length; i++)
            {
                int end = template[i] == '{' ? template.IndexOf('}', i) : -1;
                if (end < 0)
                {
                    sb.Append(template[i]);
                    continue;
                }
                var name = template[(i + 1)..end];
                if (!_values.TryGetValue(name, out var value))
                    _values[name] = value = w.Slot(name);
                sb.Append(value);
                i = end;
            }
            return sb.ToString();
        }
    }

    string Slot(string name) => name switch
    {
        "amount" => Amount(),
        "order" => Order(),
        "ago" => Pick(Ago),
        "since" => Pick(Since),
        "symptom" => Pick(Symptoms),
        "country" => Pick(Countries),
        "email" => Email(Pick(FirstNames), Pick(LastNames)),
        _ => throw new InvalidOperationException($"unknown slot '{name}'"),
    };

    (Problem Problem, Slots Slots, string Text, string Summary) Ticket()
    {
        var problem = Pick(Problems);
        var slots = new Slots(this, Pick(Products));
        return (problem, slots, slots.Fill(problem.Text), slots.Fill(problem.Summary));
    }

    string Email()
    {
        var (problem, slots, text, summary) = Ticket();
        string first = Pick(FirstNames), last = Pick(LastNames), agent = Pick(FirstNames);
        var sb = new StringBuilder();
        sb.Append("Ticket #").Append(random.Next(10000, 99999)).Append(" · ").Append(slots.Product.Name).Append('\n');
        sb.Append("From: ").Append(first).Append(' ').Append(last).Append(" <").Append(Email(first,
            last)).Append(">\n");
        sb.Append("Subject: ").Append(Chance(0.5) ? summary.TrimEnd('.')
            : $"Question about my {slots.Product.Kind}").Append("\n\n");
        sb.Append(Pick(Greetings)).Append(text);
        if (Chance(0.5))
            sb.Append(' ').Append(slots.Fill(Pick(new[] { "I bought it {ago}.", "This is the second time it happened.",
                "I already tried turning it off and on.", "My order number is {order}." })));
        sb.Append(Pick(SignOffs)).Append('\n').Append(first).Append("\n\n");
        sb.Append("Reply from ").Append(agent).Append(" (Support):\n");
        sb.Append("Hi ").Append(first).Append(",\n").Append(Pick(Empathy)).Append(' ')
            .Append(slots.Fill(Pick(problem.Replies)));
        if (Chance(0.6))
            sb.Append(' ').Append(Pick(new[] { "Let me know if anything else comes up.",
                "Reply to this e-mail if the problem returns.", "Have a good week!", "We are here if you need us." }));
        sb.Append('\n').Append(agent).Append("\n\n");
        sb.Append("Internal note: ").Append(summary).Append(" Category ").Append(problem.Category)
            .Append(", priority ").Append(problem.Priority)
          .Append(", status ").Append(Pick(Statuses)).Append('.');
        return sb.ToString();
    }

    string Chat()
    {
        var (problem, slots, text, _) = Ticket();
        string customer = Pick(FirstNames), agent = Pick(FirstNames);
        var sb = new StringBuilder($"Live chat, {slots.Product.Name}\n");
        sb.Append("Agent (").Append(agent).Append("): ").Append(Pick(new[] { "Hi, how can I help today?",
            "Welcome! What can I do for you?", "Hello, thanks for reaching out." })).Append('\n');
        sb.Append("Customer (").Append(customer).Append("): ").Append(text).Append('\n');
        sb.Append("Agent: ").Append(Pick(Empathy)).Append(' ')
            .Append(Pick(new[] { "Could you share your order number?", "May I have the e-mail on the account?",
            "Let me check that for you." })).Append('\n');
        sb.Append("Customer: ").Append(Chance(0.5) ? slots.Fill("Sure, it is {order}.")
            : $"It is {Email(customer, Pick(LastNames))}.").Append('\n');
        sb.Append("Agent: ").Append(slots.Fill(Pick(problem.Replies))).Append('\n');
        sb.Append("Customer: ").Append(Pick(new[] { "Great, thank you!", "Okay, that works.",
            "Perfect, have a nice day.", "Thanks, that was quick." })).Append('\n');
        sb.Append("[chat closed, ").Append(problem.Category).Append(", ").Append(problem.Priority).Append(']');
        return sb.ToString();
    }

    string ProductPage()
    {
        var p = Pick(Products);
        var features = p.Features.OrderBy(_ => random.Next()).ToArray();
        var sb = new StringBuilder(p.Name).Append("\n\n");
        sb.Append(p.Name).Append(Pick(new[] { " is a ", " is the ", " — a " })).Append(Pick(new[] { "compact", "quiet",
            "reliable", "well-made", "simple", "clever", "sturdy" }))
          .Append(' ').Append(p.Kind).Append(" for ").Append(Pick(new[] { "busy families", "small offices", "students",
              "travellers", "anyone who works from home", "people who love good design" })).Append(". ");
        sb.Append(p.Kind == "headphones" ? "They "
            : "It ").Append(features[0]).Append(", ").Append(features[1]).Append(" and ").Append(features[2])
            .Append(". ");
        sb.Append(Pick(new[] { "Setup takes a few minutes.", "Every unit is tested before it ships.",
            "The box is made from recycled paper.", "A quick start card is in the box." })).Append(' ');
        sb.Append("It comes with a ").Append(Pick(new[] { "one-year", "two-year",
            "three-year" })).Append(" warranty. Price: ").Append(Amount()).Append(".\n\n");
        sb.Append("What customers say: “").Append(Pick(new[] { "Works exactly as described.",
            "Better than I expected for the price.", "Setup was painless.", "Good, but the manual could be clearer.",
            "I bought a second one for my parents." }))
          .Append("” — ").Append(Pick(FirstNames)).Append(", ").Append(Pick(Cities));
        return sb.ToString();
    }

    string HowTo()
    {
        var p = Pick(Products);
        var task = Pick(new[] { "reset", "update", "clean", "set up", "pair", "restart" });
        var sb = new StringBuilder($"How to {task} your {p.Name}\n\n");
        string[] steps =
        [
            $"Make sure the {p.Kind} is charged or plugged in.", "Open the app and sign in to your account.",
                $"Hold the main button until the light blinks twice.",
            "Wait about thirty seconds without pressing anything.",
                "Choose the option you need from the list and confirm.",
                $"Keep the {p.Kind} close to your phone while it works.",
            "Check that the light turns steady green.", "Restart your phone if the device does not appear.",
        ];
        int n = random.Next(3, 6);
        foreach (var (step, i) in steps.OrderBy(_ => random.Next()).Take(n).Select((s, i) => (s, i)))
            sb.Append(i + 1).Append(". ").Append(step).Append('\n');
        sb.Append("\nIf that does not help, contact support and mention code E").Append(random.Next(100,
            999)).Append('.');
        return sb.ToString();
    }

    string Faq()
    {
        (string Q, string A)[] all =
        [
            ("How long does delivery take?", "Most orders arrive within three to five working days."),
            ("Can I return a product?", "Yes, within thirty days, as long as it is in its original box."),
            ("Do you offer refunds?", "We refund the full price to the original payment method."),
            ("How do I change my password?", "Open Profile, then Security, and choose Change password."),
            ("Is my payment information safe?", "Card details are encrypted and never stored on our servers."),
            ("Where is my order?", "The tracking link is in your confirmation e-mail and under Orders."),
            ("Can I change my delivery address?", "Yes, until the order leaves the warehouse."),
            ("What does the warranty cover?", "Faults in materials and workmanship, not accidental damage."),
            ("How do I contact support?", "Write to us from the Help page; we answer within a day."),
            ("Do you ship abroad?", $"We ship to {Pick(Countries)} and many other countries."),
        ];
        var sb = new StringBuilder("Frequently asked questions\n\n");
        foreach (var (q, a) in all.OrderBy(_ => random.Next()).Take(random.Next(3, 6)))
            sb.Append("Q: ").Append(q).Append("\nA: ").Append(a).Append("\n\n");
        return sb.ToString().TrimEnd();
    }

    public string Story()
    {
        string name = Pick(FirstNames), other = Pick(FirstNames.Where(n => n != name).ToArray());
        bool she = Chance(0.5);
        string pronoun = she ? "she" : "he", possessive = she ? "her" : "his", Pronoun = she ? "She" : "He";
        string role = Pick(new[] { "a baker", "a student", "an old sailor", "a young engineer", "a delivery driver",
            "a teacher", "a gardener", "a shop owner", "a nurse", "a painter" });
        string place = Pick(new[] { "the harbour", "a small village", "the city library", "the market",
            "a quiet street", "the train station", "the mountains", "the repair shop", "the old bridge" });
        string[] openings = ["One morning", "Late at night", "On a rainy Tuesday", "Every summer", "Long ago",
            "After work", "At the end of winter"];
        string[] goals = ["find a lost key", "fix a broken clock", "buy bread for the week", "meet an old friend",
            "return a borrowed book", "deliver a small parcel", "watch the boats come in"];
        string[] objects = ["a basket of apples", "a red umbrella", "a wooden box", "a map of the coast",
            "a bag of tools", "a cup of tea", "a letter with no stamp"];
        var sentences = new List<string>
        {
            $"{Pick(openings)}, {name}, {role}, walked to {place}.",
            $"{Pronoun} wanted to {Pick(goals)}.",
        };
        string[] middle =
        [
            $"On the way, {pronoun} met {other}, who was carrying {Pick(objects)}.",
            $"\"Do you know the way to {place}?\" asked {other}.",
            $"The sky was {Pick(new[] { "grey", "clear", "pink", "heavy with clouds" })}, and the air smelled of " +
                $"{Pick(new[] { "rain", "salt", "fresh bread", "pine trees", "smoke" })}.",
            $"{Pronoun} remembered that {possessive} " +
                $"{Pick(new[] { "grandmother", "father", "teacher", "neighbour" })} used to " +
                $"{Pick(new[] { "tell stories here", "sell flowers on this corner", "fix radios for the whole street", "walk this road every day" })}.",
            $"They talked about " +
                $"{Pick(new[] { "the weather", "their families", "old songs", "the new shop", "a trip to the sea" })} until the {Pick(new[] { "sun went down", "bells rang", "tea was cold", "last train left" })}.",
            $"Nothing went as planned, but {pronoun} did not mind.",
            $"For a moment {pronoun} stood still and listened to the " +
                $"{Pick(new[] { "wind", "waves", "birds", "city" })}.",
            $"{other} laughed and said, " +
                $"\"{Pick(new[] { "You never change.", "Come back tomorrow.", "I was looking for you.", "That is a good idea." })}\"",
        ];
        sentences.Add(middle[0]);   // the meeting comes first, so later lines can name the other person
        sentences.AddRange(middle[1..].OrderBy(_ => random.Next()).Take(random.Next(1, 5)));
        if (Chance(0.6))
            sentences.Insert(random.Next(2, sentences.Count + 1), Sentence());
        sentences.Add($"In the end, " +
            $"{Pick(new[] { $"{pronoun} went home happy", $"{pronoun} found what {pronoun} was looking for", "the two of them became good friends", $"{pronoun} decided to come back the next day", "everything was quiet again" })}.");
        return string.Join(' ', sentences);
    }

    string JsonRecords()
    {
        var sb = new StringBuilder();
        int n = random.Next(2, 7);
        int style = random.Next(3);
        for (int i = 0; i < n; i++)
        {
            var (problem, slots, _, summary) = Ticket();
            object record = style switch
            {
                0 => new { category = problem.Category, priority = problem.Priority, summary },
                1 => new
                {
                    id = random.Next(10000, 99999), customer = Pick(FirstNames), product = slots.Product.Name,
                    category = problem.Category, priority = problem.Priority, status = Pick(Statuses)
                },
                _ => new
                {
                    order = slots.Fill("{order}"), product = slots.Product.Name, quantity = random.Next(1, 4),
                    price = slots.Fill("{amount}"),
                    status = Pick(new[] { "paid", "shipped", "delivered", "returned" })
                },
            };
            sb.Append(JsonSerializer.Serialize(record)).Append('\n');
        }
        return sb.ToString().TrimEnd();
    }

    string ChatMl()
    {
        var messages = new List<(string Role, string Content)>();
        int task = random.Next(5);
        string[] helpers =
        [
            "You are a friendly support assistant. Keep answers short.",
                "You help customers with orders, billing and devices.",
            "You are a helpful assistant.", "Answer politely and in plain English.",
        ];
        if (task == 0)
        {
            messages.Add(("system",
                "Extract the order details from the message. Answer with JSON only: {\"product\": the product name, " +
                "\"order\": the order number or null}."));
            var (_, slots, text, _) = Ticket();
            bool hasOrder = text.Contains("A-", StringComparison.Ordinal);
            messages.Add(("user", text));
            messages.Add(("assistant",
                JsonSerializer.Serialize(new
                {
                    product = slots.Product.Name,
                    order = hasOrder ? text[text.IndexOf("A-", StringComparison.Ordinal)..][..7] : null
                })));
        }
        else if (task == 1)
        {
            messages.Add(("system",
                "Decide how the customer feels. Answer with JSON only: {\"sentiment\": one of positive, neutral, " +
                "negative, \"needs_reply\": true or false}."));
            bool happy = Chance(0.3);
            var (problem, _, text, _) = Ticket();
            messages.Add(("user",
                happy ? $"{Pick(new[] { "Just wanted to say the", "Love the new", "Thanks for the fast delivery of my" })} {Pick(Products).Name}!" : text));
            var sentiment = happy ? "positive" : problem.Priority == "low" ? "neutral" : "negative";
            messages.Add(("assistant", JsonSerializer.Serialize(new { sentiment, needs_reply = !happy })));
        }
        else if (task == 2)
        {
            if (Chance(0.7))
                messages.Add(("system", Pick(helpers)));
            messages.Add(("user",
                Pick(new[] { "Tell me a short story.", "Write a few sentences about a small town.",
                "Can you tell me a story about a friend?" })));
            messages.Add(("assistant", Story()));
        }
        else
        {
            if (Chance(0.8))
                messages.Add(("system", Pick(helpers)));
            int turns = random.Next(1, 3);
            for (int t = 0; t < turns; t++)
            {
                var (problem, slots, text, _) = Ticket();
                messages.Add(("user", Pick(Greetings) + text));
                messages.Add(("assistant", Pick(Empathy) + " " + slots.Fill(Pick(problem.Replies))));
            }
        }
        var sb = new StringBuilder();
        foreach (var (role, content) in messages)
            sb.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
        return sb.ToString();
    }
}
