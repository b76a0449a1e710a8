import Testing
@testable import SMTP

/// The default EHLO name: the resolver's canonical name for this host, and which names
/// count as fully qualified.
@Suite struct HostNameTests {
    @Test(arguments: [
        ("mail.shop.example", true), ("mx1.example", true), ("[192.0.2.1]", true), ("[IPv6:2001:db8::1]", true),
        ("vm", false), ("localhost", false), ("", false), ("mail.", false), (".example", false), ("a..b", false),
        ("192.0.2.1", false), ("[]", false),
    ])
    func fullyQualified(name: String, expected: Bool) {
        #expect(HostName.isFullyQualified(name) == expected)
    }

    /// Whatever this machine is called, the default is the resolver's canonical name when
    /// that one is qualified, and the bare name only when it is not.
    @Test func theDefaultIsTheCanonicalNameWhenQualified() {
        let name = HostName.fullyQualified()
        #expect(!name.isEmpty)
        if !HostName.isFullyQualified(name) {
            #expect(HostName.canonicalName(of: name).map(HostName.isFullyQualified) != true)
        }
        #expect(HostName.canonicalName(of: "localhost") == "localhost")
    }
}
