@testable import Delivery
import Foundation
import Testing
import TestPeers

@Suite(.serialized) struct RouterTests {
    static let records = [
        "mx-host=shop.test,mx1.hosting.test,10",
        "mx-host=shop.test,mx2.hosting.test,20",
        "mx-host=other.test,mx2.hosting.test,20",
        "mx-host=other.test,mx1.hosting.test,10",
        "host-record=mx1.hosting.test,127.0.0.1",
        "host-record=mx2.hosting.test,127.0.0.2",
        "host-record=plain.test,127.0.0.3",
        "host-record=relay.hosting.test,127.0.0.4",
        "mx-host=null.test,.,0",
        "mx-host=dangling.test,nowhere.hosting.test,10",
        "server=/broken.test/127.0.0.1#9",
    ]

    @Test func mxRoutesBounceAndDeferrals() async throws {
        let dns = try await DNSMasqPeer.start(Self.records)
        defer { dns.stop() }
        let router = Router(resolver: DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1), port: 2525)

        guard case .deliver(let site, let destinations, let via) = await router.route("SHOP.test") else {
            Issue.record("shop.test not delivered"); return
        }
        #expect(via == .mx)
        #expect(destinations == [
            Destination(host: "mx1.hosting.test", port: 2525, addresses: ["127.0.0.1"], preference: 10),
            Destination(host: "mx2.hosting.test", port: 2525, addresses: ["127.0.0.2"], preference: 20),
        ])
        // Two domains hosted on the same MX hosts are one site: one pool, one set of limits.
        guard case .deliver(let otherSite, _, _) = await router.route("other.test") else { Issue.record("other.test"); return }
        #expect(site == otherSite)

        guard case .deliver(_, let implicit, _) = await router.route("plain.test") else { Issue.record("plain.test"); return }
        #expect(implicit.map(\.addresses) == [["127.0.0.3"]])

        guard case .bounce(let nullReason) = await router.route("null.test") else { Issue.record("null.test"); return }
        #expect(nullReason.contains("null MX"))
        guard case .bounce = await router.route("nowhere.test") else { Issue.record("NXDOMAIN must bounce"); return }
        guard case .bounce = await router.route("dangling.test") else { Issue.record("an MX host without address bounces"); return }
        guard case .deferral = await router.route("x.broken.test") else { Issue.record("SERVFAIL must defer"); return }
    }

    @Test func routesAndRelayComeBeforeMXAndAnswersAreCached() async throws {
        let dns = try await DNSMasqPeer.start(Self.records)
        let resolver = DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1)
        let routed = Router(routes: ["shop.test": .init(host: "127.0.0.9", port: 2600), "*": .init(host: "relay.hosting.test", port: 2601)],
                            resolver: resolver)
        #expect(await routed.route("shop.test") == .deliver(site: "route:127.0.0.9:2600",
            destinations: [Destination(host: "127.0.0.9", port: 2600, addresses: ["127.0.0.9"])], via: .route))
        #expect(await routed.route("anything.example") == .deliver(site: "route:relay.hosting.test:2601",
            destinations: [Destination(host: "relay.hosting.test", port: 2601, addresses: ["127.0.0.4"])], via: .route))

        let relayed = Router(relay: .init(host: "relay.hosting.test", port: 587), resolver: resolver)
        guard case .deliver(_, _, .relay) = await relayed.route("shop.test") else { Issue.record("relay"); return }

        let mx = Router(resolver: resolver)
        let first = await mx.route("shop.test")
        dns.stop()
        // The server is gone: the cached answer still serves until its TTL runs out.
        #expect(await mx.route("shop.test") == first)
        guard case .deferral = await mx.route("other.test") else { Issue.record("uncached lookup must defer"); return }
    }
}
