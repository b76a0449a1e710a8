@testable import Delivery
import Testing
import TestPeers

@Suite(.serialized) struct DNSResolverTests {
    static let records = [
        "mx-host=good.test,mx1.good.test,10",
        "mx-host=good.test,mx2.good.test,20",
        "mx-host=good.test,backup.other.test,20",
        "host-record=mx1.good.test,127.0.0.1",
        "host-record=mx2.good.test,127.0.0.2,::1",
        "host-record=implicit.test,127.0.0.3",
        "mx-host=null.test,.,0",
        "server=/servfail.test/127.0.0.1#9",
    ]

    @Test func mxLookupsAgainstARealServer() async throws {
        let dns = try await DNSMasqPeer.start(Self.records)
        defer { dns.stop() }
        let resolver = DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1)

        let good = try await resolver.mx("good.test")
        guard case .exchanges(let hosts, _) = good else { Issue.record("good.test: \(good)"); return }
        #expect(hosts == [MXRecord(preference: 10, exchange: "mx1.good.test"),
                          MXRecord(preference: 20, exchange: "backup.other.test"),
                          MXRecord(preference: 20, exchange: "mx2.good.test")])

        #expect(try await resolver.mx("null.test") == .nullMX(ttl: 0))
        #expect(try await resolver.mx("implicit.test") == .implicit)

        await #expect(throws: DNSLookupError.noSuchDomain("nowhere.test")) { try await resolver.mx("nowhere.test") }
        do {
            _ = try await resolver.mx("x.servfail.test")
            Issue.record("servfail.test answered")
        } catch {
            #expect(error.isTemporary, "\(error)")
        }
    }

    @Test func addressLookups() async throws {
        let dns = try await DNSMasqPeer.start(Self.records)
        defer { dns.stop() }
        let resolver = DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1)
        #expect(try await resolver.addresses("mx1.good.test").addresses == ["127.0.0.1"])
        #expect(try await resolver.addresses("mx2.good.test").addresses == ["127.0.0.2", "::1"])
        await #expect(throws: DNSLookupError.noSuchDomain("missing.good.test")) { try await resolver.addresses("missing.good.test") }
    }

    @Test func anUnreachableServerIsTemporary() async throws {
        let port = try TestPeers.freePort()  // nothing listens there
        let resolver = DNSResolver(server: ("127.0.0.1", port), timeout: 1, attempts: 1)
        do {
            _ = try await resolver.mx("good.test")
            Issue.record("a dead server answered")
        } catch {
            #expect(error.isTemporary, "\(error)")
        }
    }
}
