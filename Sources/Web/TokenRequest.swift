import Hummingbird
import MailMessage

/// A request to a token route (`/u/TOKEN`, `/p/TOKEN`), read as far as its decision
/// needs: the token verified, and for a POST the form. A bad token is a 404 before the
/// body is read, so it writes nothing and costs nothing.
struct TokenRequest {
    let token: String
    let verified: (campaign: String, recipient: String)
    /// The POST body's fields; empty for GET and HEAD.
    let form: [String: String]

    static func read(_ request: Request, _ context: BasicRequestContext, method: UnsubscribeDecision.Method,
                     settings: WebSettings) async throws -> TokenRequest {
        let token = context.parameters.get("token") ?? ""
        guard token.utf8.count <= settings.maxTokenLength, let verified = UnsubscribeToken.verify(token, secret: settings.secret) else {
            throw HTTPError(.notFound)
        }
        var form: [String: String] = [:]
        if method == .post {
            var request = request
            let body = try await BoundedBody.read(&request, settings: settings)
            form = FormBody.fields(body: body, contentType: request.headers[.contentType])
        }
        return TokenRequest(token: token, verified: verified, form: form)
    }
}

extension Router where Context == BasicRequestContext {
    /// `path` for GET, HEAD and POST, each answered by `respond`, told which it was.
    func addTokenRoute(_ path: RouterPath,
                       _ respond: @escaping @Sendable (Request, BasicRequestContext, UnsubscribeDecision.Method) async throws -> Response) {
        get(path) { request, context in try await respond(request, context, .get) }
        head(path) { request, context in try await respond(request, context, .head) }
        post(path) { request, context in try await respond(request, context, .post) }
    }
}
