import Foundation
import Hummingbird
import Logging

/// One log line per request, as metadata: method, the route's pattern (`/u/{token}`,
/// never the path itself, which holds the token), status and duration. No client
/// address and no recipient address: an access log is kept and shipped around longer
/// than anyone thinks about it.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await next(request, context)
        let elapsed = start.duration(to: clock.now)
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info("request", metadata: [
            "http.method": "\(request.method.rawValue)",
            "http.route": "\(Self.route(context.endpointPath ?? "NotFound"))",
            "http.status": "\(response.status.code)",
            "duration_ms": "\(String(format: "%.2f", milliseconds))",
        ])
        return response
    }

    /// Hummingbird's `/u/:token` written as `/u/{token}`.
    static func route(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
        }.joined(separator: "/")
    }
}
