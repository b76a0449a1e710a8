import Foundation

/// What `salvo serve` needs besides the store: where to listen, the key of the tokens,
/// and the bounds that keep a slow or hostile client from holding it.
public struct WebSettings: Sendable {
    public var host: String
    /// 0 lets the system pick (the tests); `onRunning` learns the port.
    public var port: Int
    /// `web.public_url` without a trailing slash: the origin and prefix the pages post
    /// to. Nil: they post to the path they were fetched at.
    public var publicURL: String?
    /// The unsubscribe secret: the tokens' key.
    public var secret: [UInt8]
    /// How long after unsubscribing the confirmation's undo button still works.
    public var undoWindow: TimeInterval = 15 * 60
    /// A POST body larger than this is refused (413) unread: the forms are a few bytes.
    public var maxBodyBytes = 8 * 1024
    /// Header limits handed to the HTTP parser.
    public var maxHeaderFieldBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderFields = 64
    /// A token longer than this is not looked at.
    public var maxTokenLength = 1024
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration = .seconds(30)
    /// A body that has not fully arrived after this long is answered 408.
    public var bodyTimeout: Duration = .seconds(10)

    public init(host: String = "127.0.0.1", port: Int = 8080, publicURL: String? = nil, secret: [UInt8]) {
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.secret = secret
    }
}
