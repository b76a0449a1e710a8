import Foundation

/// What a tracking request was.
public enum TrackingEventKind: String, Sendable, Codable, CaseIterable {
    /// The open pixel was fetched.
    case open
    /// A tracked link was followed.
    case click
}

/// Whether a request looks like a person or a machine, and why a machine.
public struct TrackingVerdict: Sendable, Equatable {
    public var isMachine: Bool
    /// Nil for a person; otherwise `head`, `soon-after-send`, `no-user-agent` or
    /// `agent:NAME`.
    public var reason: String?

    public static let human = TrackingVerdict(isMachine: false, reason: nil)
    public static func machine(_ reason: String) -> TrackingVerdict { TrackingVerdict(isMachine: true, reason: reason) }
}

/// Tells people from machines among opens and clicks, from the request alone and the
/// time: no I/O, no clock read (`now` is a parameter), so every rule is tested with
/// fixed times.
///
/// Machines inflate both numbers: Apple Mail Privacy Protection fetches every image of
/// every message through its proxy whether anyone reads it, Gmail and Yahoo fetch images
/// through proxies of their own, and the security scanners of receiving organisations
/// follow every link of a message within seconds of its arrival, often with HEAD. Such
/// events are recorded and counted apart, not dropped: a proxy's fetch still says that a
/// mailbox exists and took the message.
public struct TrackingEventClassifier: Sendable {
    /// A fetch this soon after the message was handed over is a scanner's: nobody opens
    /// and reads a message and clicks within it.
    public var soonAfterSend: TimeInterval

    public init(soonAfterSend: TimeInterval = 10) {
        self.soonAfterSend = soonAfterSend
    }

    /// Parts of the User-Agent of known image proxies and link scanners (compared in
    /// lower case), with the name recorded.
    public static let machineAgents: [(part: String, name: String)] = [
        ("googleimageproxy", "google-image-proxy"),
        ("ggpht.com", "google-image-proxy"),
        ("yahoomailproxy", "yahoo-mail-proxy"),
        ("bingpreview", "bing-preview"),
        ("microsoft office existence discovery", "microsoft-office"),
        ("ms-office", "microsoft-office"),
        ("proofpoint", "proofpoint"),
        ("mimecast", "mimecast"),
        ("barracuda", "barracuda"),
        ("symantec", "symantec"),
        ("forcepoint", "forcepoint"),
        ("trendmicro", "trend-micro"),
        ("zscaler", "zscaler"),
        ("safelinks", "microsoft-safelinks"),
        ("google-safety", "google-safety"),
        ("slackbot", "link-preview"),
        ("facebookexternalhit", "link-preview"),
        ("python-requests", "script"),
        ("python-urllib", "script"),
        ("curl/", "script"),
        ("wget/", "script"),
        ("go-http-client", "script"),
        ("bot", "bot"),
        ("spider", "bot"),
        ("crawler", "bot"),
    ]

    /// - Parameters:
    ///   - isHead: the request was a HEAD: a scanner checking a link, never a browser
    ///     following one.
    ///   - userAgent: the User-Agent header (nil when absent).
    ///   - sentAt: when a server accepted the delivery's message (nil when unknown).
    ///   - now: when the request arrived.
    public func classify(isHead: Bool, userAgent: String?, sentAt: Date?, now: Date) -> TrackingVerdict {
        if isHead { return .machine("head") }
        guard let agent = userAgent?.trimmingCharacters(in: .whitespaces), !agent.isEmpty else { return .machine("no-user-agent") }
        // Apple Mail Privacy Protection's proxy sends exactly this and nothing more;
        // every browser names itself further.
        if agent == "Mozilla/5.0" { return .machine("agent:apple-privacy-proxy") }
        let lower = agent.lowercased()
        if let known = Self.machineAgents.first(where: { lower.contains($0.part) }) { return .machine("agent:\(known.name)") }
        if let sentAt, now.timeIntervalSince(sentAt) < soonAfterSend { return .machine("soon-after-send") }
        return .human
    }
}
