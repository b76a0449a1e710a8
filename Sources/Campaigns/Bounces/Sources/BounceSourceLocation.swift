import Foundation
import POP3

/// What `salvo bounces import PATH` was given, decided from the argument alone: a
/// Maildir folder, an mbox file, or a POP3S mailbox URL.
public enum BounceSourceLocation: Sendable, Equatable {
    case mbox(String)
    case maildir(String)
    /// `pop3s://user@host[:port]`: read by `POP3Mailbox` (the POP3 target).
    case pop3s(URL)

    public init(_ argument: String) throws {
        if argument.lowercased().hasPrefix("pop3s://") || argument.lowercased().hasPrefix("pop3://") {
            guard let url = URL(string: argument), url.host != nil else {
                throw BounceSourceError("\(argument): expected pop3s://user@host[:port]")
            }
            guard url.scheme?.lowercased() == "pop3s" else {
                throw BounceSourceError("\(argument): only pop3s:// (POP3 over TLS) is accepted: a mailbox password never travels in the clear")
            }
            self = .pop3s(url)
            return
        }
        var folder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &folder) else {
            throw BounceSourceError("cannot read \(argument): no such file or folder")
        }
        if folder.boolValue {
            guard MaildirFolder.isMaildir(argument) else {
                throw BounceSourceError("\(argument) is a folder but not a Maildir (it has no new/ or cur/)")
            }
            self = .maildir(argument)
        } else {
            self = .mbox(argument)
        }
    }

    /// The source that reads this location. A POP3S mailbox's password comes from
    /// `SALVO_POP3_PASSWORD` in `environment`, never from the URL or the command line.
    ///
    /// - Parameters:
    ///   - caFile: trusted CAs for the POP3S server instead of the system store.
    ///   - deleteProcessed: delete each POP3 message once it is committed.
    public func source(environment: [String: String] = ProcessInfo.processInfo.environment,
                       caFile: String? = nil, deleteProcessed: Bool = false) throws -> any BounceSource {
        switch self {
        case .mbox(let path): return MboxFile(path: path)
        case .maildir(let path): return MaildirFolder(path: path)
        case .pop3s(let url):
            guard url.password == nil else {
                throw BounceSourceError("\(url.scheme ?? "pop3s")://…@\(url.host ?? ""): put the password in SALVO_POP3_PASSWORD, not in the URL")
            }
            guard let password = environment["SALVO_POP3_PASSWORD"], !password.isEmpty else {
                throw BounceSourceError("\(url.absoluteString): set SALVO_POP3_PASSWORD to the mailbox's password")
            }
            do {
                return POP3BounceSource(mailbox: try POP3Mailbox(url: url.absoluteString, password: password, caFile: caFile),
                                        deleteProcessed: deleteProcessed)
            } catch {
                throw BounceSourceError("\(error)")
            }
        }
    }
}
