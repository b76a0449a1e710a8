import NIOCore
import NIOSSL

/// Everything needed to put TLS in front of a session: the NIOSSL context (built once
/// per connection from the configuration) and the name the certificate must carry.
struct SMTPTLSSetup: Sendable {
    let context: NIOSSLContext
    let serverHostname: String?
    /// The name or address the certificate must carry.
    let expectedName: String
    let verification: SMTPConfiguration.CertificateVerification
    let implicit: Bool
    /// The CA file trusted instead of the system store, for error messages.
    let caFile: String?

    init(configuration: SMTPConfiguration, host: String) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile = configuration.caFile { tls.trustRoots = .file(caFile) }
        // Under `.recordOnly` the chain result is recorded by `VerificationRecorder` and
        // the name is checked by us, so that neither can fail the handshake.
        tls.certificateVerification = configuration.certificateVerification == .verify ? .fullVerification : .noHostnameVerification
        context = try NIOSSLContext(configuration: tls)
        let name = configuration.tlsServerName ?? host
        serverHostname = Self.isIPAddress(name) ? nil : name
        expectedName = name
        verification = configuration.certificateVerification
        implicit = configuration.tls == .implicit
        caFile = configuration.caFile
    }

    /// The handlers to put in front of the session, outermost first, and what they learn.
    func makeHandlers() throws -> (observer: ServerHelloObserver, tls: NIOSSLClientHandler, recorder: VerificationRecorder) {
        let recorder = VerificationRecorder()
        let handler: NIOSSLClientHandler
        switch verification {
        case .verify:
            handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
        case .recordOnly:
            handler = try (LegacyVerificationCallback.self as any RecordingHandlerFactory.Type)
                .make(context: context, serverHostname: serverHostname, recorder: recorder)
        }
        return (ServerHelloObserver(), handler, recorder)
    }

    static func isIPAddress(_ name: String) -> Bool {
        (try? SocketAddress(ipAddress: name, port: 0)) != nil
    }
}

/// Remembers the first chain verification failure BoringSSL reported, then lets the
/// handshake go on: opportunistic TLS encrypts even with a certificate it cannot trust.
final class VerificationRecorder {
    private(set) var failure: String?

    func record(_ result: NIOSSLVerificationResult, _ certificate: NIOSSLCertificate) -> NIOSSLVerificationResult {
        if result == .failed, failure == nil {
            failure = "certificate chain did not verify at \(SMTPPeerCertificate(certificate).commonName ?? "a certificate without a common name")"
        }
        return .certificateVerified
    }
}

/// The per-certificate verification callback is the one NIOSSL API that reports
/// BoringSSL's own verdict without replacing verification; it is marked deprecated in
/// favour of callbacks that must re-implement chain building. Calling it through a
/// protocol keeps the deprecation warning out of every build.
private protocol RecordingHandlerFactory {
    static func make(context: NIOSSLContext, serverHostname: String?, recorder: VerificationRecorder) throws -> NIOSSLClientHandler
}

private enum LegacyVerificationCallback: RecordingHandlerFactory {
    @available(*, deprecated)
    static func make(context: NIOSSLContext, serverHostname: String?, recorder: VerificationRecorder) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname, verificationCallback: recorder.record)
    }
}
