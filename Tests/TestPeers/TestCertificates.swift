import Foundation

/// A CA and a server certificate signed by it (by default for localhost and 127.0.0.1),
/// made with the openssl CLI.
public struct TestCertificates: Sendable {
    public let directory: URL
    public var caFile: String { directory.appendingPathComponent("ca.pem").path }
    public var certificateFile: String { directory.appendingPathComponent("server.pem").path }
    public var keyFile: String { directory.appendingPathComponent("server.key").path }

    public static func make(subjectAltNames: String = "DNS:localhost,IP:127.0.0.1") throws -> TestCertificates {
        let openssl = try TestPeers.executable("openssl")
        let directory = try TestPeers.makeTemporaryDirectory("certs")
        func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PeerError("openssl \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
            }
        }
        try "subjectAltName=\(subjectAltNames)\nbasicConstraints=CA:FALSE\n"
            .write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                 "-days", "2", "-subj", "/CN=Salvo Test CA"])
        try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                 "-subj", "/CN=localhost"])
        try run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.pem", "-days", "2", "-extfile", "san.ext"])
        return TestCertificates(directory: directory)
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
