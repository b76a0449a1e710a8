// The client side of RFC 5321: reply parsing, command encoding, a pure session state
// machine, and `SMTPConnection`, the thin SwiftNIO layer that runs it.
