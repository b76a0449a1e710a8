import NIOCore

/// A command of RFC 1939 and RFC 2449 that the mailbox reader sends.
public enum POP3Command: Sendable, Hashable, CustomStringConvertible {
    case capa
    case user(String)
    case pass(String)
    case stat
    /// UIDL without an argument: the unique id of every message.
    case uidl
    /// LIST without an argument: the size of every message.
    case list
    case retr(Int)
    case dele(Int)
    case noop
    case quit

    /// Whether a `+OK` to this command is followed by lines up to a "." line.
    var isMultiLine: Bool {
        switch self {
        case .capa, .uidl, .list, .retr: true
        case .user, .pass, .stat, .dele, .noop, .quit: false
        }
    }

    /// The command line as sent, without CRLF. `pass` shows the password: use
    /// `description` anywhere a person or a log may see it.
    var line: String {
        switch self {
        case .capa: "CAPA"
        case .user(let name): "USER \(name)"
        case .pass(let password): "PASS \(password)"
        case .stat: "STAT"
        case .uidl: "UIDL"
        case .list: "LIST"
        case .retr(let number): "RETR \(number)"
        case .dele(let number): "DELE \(number)"
        case .noop: "NOOP"
        case .quit: "QUIT"
        }
    }

    /// The command as errors and logs show it: the password is never shown.
    public var description: String {
        if case .pass = self { return "PASS ****" }
        return line
    }

    /// Writes the command and CRLF.
    func write(into buffer: inout ByteBuffer) {
        buffer.writeString(line)
        buffer.writeStaticString("\r\n")
    }

    /// An argument with CR, LF or another control character would end the command early
    /// and let the rest be read as a second command: refuse it before anything is sent.
    var hasValidArguments: Bool {
        switch self {
        case .user(let text), .pass(let text):
            !text.isEmpty && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        case .retr(let number), .dele(let number):
            number > 0
        default:
            true
        }
    }
}
