extension DeferralRule {
    /// The rules Salvo ships, tried after the user's `deferral_rules`. Each names its
    /// source. Durations and rates come from KumoMTA's published shaping files
    /// (github.com/KumoCorp/kumomta: `assets/policy-extras/shaping.toml`, the defaults,
    /// and `assets/community/shaping.toml`, contributed by operators), which act only
    /// after a threshold of matches per hour; Salvo acts on the first match, so where
    /// KumoMTA combines a suspend with a threshold, these rules keep the duration and
    /// drop the threshold. Yahoo's and Microsoft's codes are also explained on their own
    /// postmaster pages, cited per rule.
    public static let defaults: [DeferralRule] = [
        // Yahoo: "421 4.7.0 [TSS04] Messages from a.b.c.d temporarily deferred due to
        // unexpected volume or user complaints" (also seen as [TS04]). Yahoo's error-code
        // page (https://senders.yahooinc.com/smtp-error-codes) says to slow down and
        // retry later; KumoMTA's default Yahoo automation suspends the site for 2 hours.
        rule("yahoo-tss04", sites: yahoo, text: #"\[(TS?S04|IPTS04)\]"#, suspend: 2 * hour,
             source: "KumoMTA shaping.toml [provider.yahoo] automation; senders.yahooinc.com/smtp-error-codes"),
        // Yahoo "[TSS05]" / "[IPTS05]": the same deferral, KumoMTA community rules
        // suspend for 4 hours.
        rule("yahoo-tss05", sites: yahoo, text: #"\[(TSS05|IPTS05)\]"#, suspend: 4 * hour,
             source: "KumoMTA community/shaping.toml [provider.yahoo]"),
        // Yahoo "[TS02]" / "[TS03]": "unusual traffic patterns from your server";
        // KumoMTA community rules throttle to 1/min and 10/min for 30 minutes.
        rule("yahoo-ts02", sites: yahoo, text: #"\[TS02\]"#, throttle: Rate(count: 1, per: 60), for: 30 * minute,
             source: "KumoMTA community/shaping.toml [provider.yahoo]"),
        rule("yahoo-ts03", sites: yahoo, text: #"\[TS03\]"#, throttle: Rate(count: 10, per: 60), for: 30 * minute,
             source: "KumoMTA community/shaping.toml [provider.yahoo]"),
        // Gmail "421-4.7.28 … Our system has detected an unusual rate of unsolicited mail
        // originating from your IP address … temporarily rate limited" (Google's SMTP
        // error reference, https://support.google.com/a/answer/3726730); KumoMTA
        // community rules throttle to 10/min for 30 minutes.
        DeferralRule(name: "gmail-4.7.28", sites: google, enhancedCode: EnhancedCodePattern(statusClass: 4, subject: 7, details: 28...28),
                     action: .throttle(Rate(count: 10, per: 60), for: .seconds(30 * minute)),
                     source: "support.google.com/a/answer/3726730; KumoMTA community/shaping.toml [provider.gmail]"),
        // Gmail 4.7.0 that speaks of a rate ("… unusual rate …", "rate limited"): the
        // same treatment. Salvo's own choice, for Gmail's variants of the 4.7.28 text
        // under the generic 4.7.0.
        rule("gmail-4.7.0-rate", sites: google, enhanced: EnhancedCodePattern(statusClass: 4, subject: 7, details: 0...0),
             text: #"\brate\b|rate.limit"#, throttle: Rate(count: 10, per: 60), for: 30 * minute,
             source: "Salvo (by analogy with gmail-4.7.28)"),
        // Microsoft (Outlook.com and Exchange Online): "4.7.650"/"4.7.651" … "has been
        // temporarily rate limited due to IP reputation". KumoMTA community rules
        // suspend the site for 30 minutes.
        rule("microsoft-rate-limited", sites: microsoft, enhanced: EnhancedCodePattern(statusClass: 4, subject: 7, details: 650...699),
             suspend: 30 * minute,
             source: "KumoMTA community/shaping.toml [provider.outlook]; Microsoft sender support, sendersupport.olc.protection.outlook.com/pm"),
        // Microsoft Exchange Online "451 4.7.500-699 Server busy. Please try again later
        // from [a.b.c.d]. (ASxxx / S3150 …)": Microsoft's page "Fix error code
        // 451 4.7.500-699 (ASxxx) in Exchange Online" explains it as throttling of a
        // new or suspicious sending IP. KumoMTA's default automation answers "Server
        // busy. Please try again later from" with 1 message a minute for 90 minutes.
        rule("microsoft-server-busy", sites: microsoft, enhanced: EnhancedCodePattern(statusClass: 4, subject: 7, details: 500...699),
             throttle: Rate(count: 1, per: 60), for: 90 * minute,
             source: "learn.microsoft.com (451 4.7.500-699 ASxxx); KumoMTA shaping.toml default automation"),
        // Apple iCloud "421 [HCM1] Your mail from a.b.c.d was deferred" and "451 [BS02]
        // Temporary server error": KumoMTA community rules suspend for 15 minutes.
        rule("icloud-deferred", sites: apple, text: #"\[(HCM1|BS02)\]"#, suspend: 15 * minute,
             source: "KumoMTA community/shaping.toml [provider.apple]"),
        // Any site: "Messages from a.b.c.d temporarily deferred" and "has been temporarily
        // rate limited due to IP reputation" — KumoMTA's default automation for every
        // destination: 1 message a minute for 90 minutes.
        rule("ip-temporarily-deferred", code: "4",
             text: #"messages from \d+\.\d+\.\d+\.\d+ temporarily deferred|temporarily rate limited due to ip reputation"#,
             throttle: Rate(count: 1, per: 60), for: 90 * minute,
             source: "KumoMTA shaping.toml default automation"),
    ]

    private static let minute = 60
    private static let hour = 3600
    private static let yahoo = patterns(["*.yahoodns.net"])
    private static let google = patterns(["*.google.com", "*.googlemail.com"])
    private static let microsoft = patterns(["*.protection.outlook.com", "*.mx.microsoft"])
    private static let apple = patterns(["*.mail.icloud.com"])

    private static func patterns(_ texts: [String]) -> [SitePattern] {
        texts.map { SitePattern($0)! }
    }

    private static func rule(_ name: String, sites: [SitePattern] = [], code: String? = nil, enhanced: EnhancedCodePattern? = nil,
                             text regex: String? = nil, suspend: Int? = nil, throttle: Rate? = nil, for seconds: Int? = nil,
                             source: String) -> DeferralRule {
        let action: Action = if let throttle, let seconds {
            .throttle(throttle, for: .seconds(seconds))
        } else {
            .suspend(for: .seconds(suspend!))
        }
        return DeferralRule(name: name, sites: sites, codePrefix: code, enhancedCode: enhanced,
                            text: regex.map { try! TextPattern.regex($0) }, action: action, source: source)
    }
}
