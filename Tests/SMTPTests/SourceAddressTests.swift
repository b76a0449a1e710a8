import NIOCore
import SMTP
import TestPeers
import Testing

/// `SMTPConfiguration.sourceAddress` against the hostile peer in its well-behaved mode on
/// 127.0.0.1: the connection is made from the address asked for (the peer records the
/// client's address), and an address this host does not have is the sender's failure,
/// found before anything reaches the server.
@Suite(.serialized) struct SourceAddressTests {
    static func configuration(source: String?) -> SMTPConfiguration {
        SMTPConfiguration(heloName: HostilePeerTests.helo, tls: .none, timeouts: .uniform(.seconds(30)), sourceAddress: source)
    }

    /// Linux answers for all of 127.0.0.0/8 on the loopback interface, so 127.0.0.2 is an
    /// address of this host that is not the one the system would choose.
    @Test func aConnectionIsMadeFromTheSourceAddress() async throws {
        let peer = try await HostilePeerTests.start("normal")
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(source: "127.0.0.2"))
        #expect(connection.localAddress == "127.0.0.2")
        let result = try await connection.send(HostilePeerTests.transaction(["ann@example.test"]))
        #expect(result.recipients.map(\.status) == [.accepted])
        await connection.close()
        try await peer.waitFor("the message") { $0.contains { $0.event == "message" } }
        #expect(try peer.events().filter { $0.event == "connect" }.map(\.client) == ["127.0.0.2"])
    }

    @Test func withoutOneTheSystemChoosesAndTheConnectionSaysWhich() async throws {
        let peer = try await HostilePeerTests.start("normal")
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(source: nil))
        #expect(connection.localAddress == "127.0.0.1")
        await connection.close()
    }

    /// 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this host. The bind
    /// fails before any packet leaves, so the peer sees nothing.
    @Test func anAddressThisHostDoesNotHaveIsTheSendersFailure() async throws {
        let peer = try await HostilePeerTests.start("normal")
        defer { peer.stop() }
        for source in ["192.0.2.77", "::1", "mail.shop.test"] {
            let error = try #require(await HostilePeerTests.error {
                _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(source: source))
            })
            #expect(error.code == .sourceAddressUnavailable, "\(source): \(error)")
            #expect(error.scope == .sender && error.scope(towardsRelay: true) == .sender, "\(source): \(error)")
            #expect("\(error)".contains(source), "\(error)")
        }
        #expect(try peer.connections() == 0)
    }
}
