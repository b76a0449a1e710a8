import Campaigns
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The web half of Salvo: the endpoints the links in sent mail lead to. A Hummingbird
/// application, so it runs as a `Service` in a `ServiceGroup`: on SIGTERM or SIGINT the
/// group shuts it down gracefully (no new connections, requests in flight answered,
/// then the store closes with every write committed).
public struct WebServer: Sendable {
    public let settings: WebSettings
    public let store: any WebStore
    public let logger: Logger
    /// The time unsubscribes are recorded at and undo windows measured from.
    public let clock: @Sendable () -> Date
    /// The messages behind `/c/` and `/v/` (`TrackingRoutes`); nil: those answer 404.
    public var messages: DeliveryMessages?

    public init(settings: WebSettings, store: any WebStore, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.store = store
        self.logger = logger
        self.clock = clock
    }

    /// The routes, behind the access log, the security headers and the error pages.
    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AccessLogMiddleware())
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorPageMiddleware())
        UnsubscribeRoutes(settings: settings, store: store, clock: clock).add(to: router)
        TrackingRoutes(settings: settings, store: store, messages: messages, classifier: TrackingEventClassifier(), clock: clock).add(to: router)
        PreferencesRoutes(settings: settings, store: store, clock: clock).add(to: router)
        // For a reverse proxy's or a monitor's health check: answers without the store.
        router.get("/health") { _, _ in WebResponse.text("ok\n") }
        return router
    }

    /// The service to run; `onRunning` is called with the port once it listens (the one
    /// the system picked when `settings.port` is 0).
    public func service(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: .nanoseconds(Int64(settings.idleTimeout.components.seconds) * 1_000_000_000),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: settings.maxHeaderFieldBytes,
                maxHeaderListSize: settings.maxHeaderBytes,
                maxHeaderFieldCount: settings.maxHeaderFields))
        return Application(
            router: router(),
            server: .http1(configuration: http1),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger
        )
    }
}
