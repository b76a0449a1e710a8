import Foundation

/// What `salvo bounces import PATH` was given, decided from the argument alone: a
/// Maildir folder, an mbox file, or a POP3S mailbox URL.
public enum BounceSourceLocation: Sendable, Equatable {
    case mbox(String)
    case maildir(String)
    /// `pop3s://user@host[:port]`: read by `POP3Mailbox` (Bounces/POP3/).
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

    /// The source that reads this location.
    ///
    /// - Throws: for `pop3s://` until `POP3Mailbox` is wired in here: the one place a
    ///   POP3 source is made, with the password from the environment as every secret is.
    public func source() throws -> any BounceSource {
        switch self {
        case .mbox(let path): return MboxFile(path: path)
        case .maildir(let path): return MaildirFolder(path: path)
        case .pop3s(let url):
            throw BounceSourceError("\(url.absoluteString): reading bounces over POP3S is not available in this build yet; import an mbox file or a Maildir folder")
        }
    }
}
