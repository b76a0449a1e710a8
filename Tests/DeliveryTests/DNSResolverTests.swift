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

    @Test func textAndPointerLookups() async throws {
        let long = String(repeating: "k", count: 400)  // more than one 255-octet string
        let dns = try await DNSMasqPeer.start([
            #"txt-record=good.test,"v=spf1 -all","second string""#,
            #"txt-record=good.test,"google-site-verification=x""#,
            "txt-record=long.good.test,\"p=\(long)\"",
            "ptr-record=7.2.0.192.in-addr.arpa,Mail.Good.Test",
            "host-record=four.good.test,192.0.2.4,2001:db8::4",
        ], localDomains: ["test", "in-addr.arpa"])
        defer { dns.stop() }
        let resolver = DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1)
        #expect(Set(try await resolver.txt("good.test")) == ["v=spf1 -allsecond string", "google-site-verification=x"])
        #expect(try await resolver.txt("long.good.test") == ["p=" + long])
        #expect(try await resolver.ptr("7.2.0.192.in-addr.arpa") == ["mail.good.test"])
        #expect(try await resolver.ptr("4.2.0.192.in-addr.arpa") == ["four.good.test"])
        #expect(try await resolver.ipv4("four.good.test") == ["192.0.2.4"])
        #expect(try await resolver.ipv6("four.good.test") == ["2001:db8::4"])
        await #expect(throws: DNSLookupError.noSuchDomain("8.2.0.192.in-addr.arpa")) { try await resolver.ptr("8.2.0.192.in-addr.arpa") }
        await #expect(throws: DNSLookupError.noRecords("four.good.test", type: "TXT")) { try await resolver.txt("four.good.test") }
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
