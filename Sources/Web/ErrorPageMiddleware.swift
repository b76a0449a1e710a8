import Campaigns
import Foundation
import Hummingbird
import Logging

/// Turns every failure below it into a short page of its own: a 404 for an unknown path
/// or token, a 413 for a body over the limit, a 503 when the store cannot take the
/// write now (a busy SQLite file, a PostgreSQL server gone or refusing). No error's
/// description reaches a response (a store error's would carry SQL); the log gets the
/// kind of failure only.
struct ErrorPageMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            // HTTPError, and NIO's too-many-bytes from a body over the limit.
            return Self.page(for: error.status)
        } catch let error as any StoreServerError {
            context.logger.error("store failed", metadata: ["store.result_code": "\(error.logCode)"])
            return Self.page(for: .serviceUnavailable)
        } catch is CancellationError {
            return Self.page(for: .serviceUnavailable)
        } catch {
            context.logger.error("request failed", metadata: ["error.type": "\(type(of: error))"])
            return Self.page(for: .internalServerError)
        }
    }

    static func page(for status: HTTPResponse.Status) -> Response {
        let page: HTMLPage
        switch status.code {
        case 404: page = .status(404, "Not found", "This link is not valid. If you copied it from a message, check that it is complete.")
        case 400: page = .status(400, "Bad request", "This request asks for nothing this page can do.")
        case 408: page = .status(408, "Too slow", "The request took too long to arrive. Please try again.")
        case 413: page = .status(413, "Too large", "The request is larger than this page accepts.")
        case 503: page = .status(503, "Try again soon", "The request could not be recorded just now. Please try again in a minute.")
        default:
            if status.code < 500 { page = .status(status.code, "Cannot do that", "This request cannot be answered.") }
            else { page = .status(500, "Something went wrong", "Please try again later.") }
        }
        return WebResponse.html(page, status: status.code >= 500 && status.code != 503 ? .internalServerError : status)
    }
}

/// The two kinds of answer the routes give.
enum WebResponse {
    static func html(_ page: HTMLPage, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: page.html)))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
