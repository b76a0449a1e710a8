import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The headers every answer carries, error pages included: a Content-Security-Policy
/// that allows the one inline style and forms posted back to this origin and nothing
/// else (no script, no image, no frame), no Referer leaking the token in the URL to
/// anyone, no content sniffing, no caching of a page made for one recipient.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        let hash = Data(SHA256.hash(data: Array(HTMLPage.style.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(hash)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }

    let policy = SecurityHeadersMiddleware.contentSecurityPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        // A route with a policy or caching rule of its own (the message page, the open
        // pixel) keeps it.
        if response.headers[HTTPField.Name("Content-Security-Policy")!] == nil {
            response.headers[HTTPField.Name("Content-Security-Policy")!] = policy
        }
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}
