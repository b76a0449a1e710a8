/// Every rate limit a message passes: its site's, its domain's, and the process's. A
/// message goes when all three allow it; when one says wait, none is charged, and the
/// caller learns the earliest instant at which all three would agree.
///
/// Charging nothing on a wait matters: a bucket that gave up a token while another made
/// the message wait would lose it, and the slowest limit would effectively be counted
/// twice.
///
/// Buckets are made on first use from the rates the caller passes (those of
/// `SiteLimits.Effective`), and follow them when they change (a configuration reload).
/// Deferral rules override a site's rate for a while (`override(site:to:until:)`).
public struct Throttles<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias Decision = TokenBucket<Instant>.Decision

    public private(set) var global: TokenBucket<Instant>
    public private(set) var sites: [SiteKey: TokenBucket<Instant>] = [:]
    public private(set) var domains: [String: TokenBucket<Instant>] = [:]

    public init(globalRate: Rate?) {
        global = TokenBucket(rate: globalRate)
    }

    /// Takes one message's worth from the site's, the domain's and the global bucket,
    /// or from none of them.
    public mutating func take(site: SiteKey, siteRate: Rate?, domain: String, domainRate: Rate?, now: Instant) -> Decision {
        let domain = SiteKey.normalize(domain)
        Self.prepare(&sites, site, rate: siteRate)
        Self.prepare(&domains, domain, rate: domainRate)
        var latest = global.earliest(now: now)
        if let bucket = sites[site] { latest = max(latest, bucket.earliest(now: now)) }
        if let bucket = domains[domain] { latest = max(latest, bucket.earliest(now: now)) }
        if latest > now { return .wait(until: latest) }
        // All three allow now, so none of these takes can wait.
        _ = global.take(now: now)
        _ = sites[site]?.take(now: now)
        _ = domains[domain]?.take(now: now)
        return .proceed
    }

    /// `take` with the rates of resolved limits.
    public mutating func take(_ limits: SiteLimits.Effective, domain: String, now: Instant) -> Decision {
        take(site: limits.site, siteRate: limits.siteRate, domain: domain, domainRate: limits.domainRate, now: now)
    }

    /// Runs `site` at `rate` until `until` (a deferral rule's throttle action), whatever
    /// its configured rate; it returns to the configured rate by itself.
    public mutating func override(site: SiteKey, to rate: Rate, until: Instant) {
        sites[site, default: TokenBucket(rate: nil)].override(to: rate, until: until)
    }

    public mutating func setGlobalRate(_ rate: Rate?) {
        global.setRate(rate)
    }

    /// Makes, updates or drops the bucket for `key` so that it runs at `rate`.
    private static func prepare<Key: Hashable>(_ buckets: inout [Key: TokenBucket<Instant>], _ key: Key, rate: Rate?) {
        if var bucket = buckets[key] {
            guard bucket.configuredRate != rate else { return }
            bucket.setRate(rate)
            // An unlimited bucket with no override running holds no state worth keeping.
            buckets[key] = bucket.isLimiting ? bucket : nil
        } else if let rate {
            buckets[key] = TokenBucket(rate: rate)
        }
    }
}
