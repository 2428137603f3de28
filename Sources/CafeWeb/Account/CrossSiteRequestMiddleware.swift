import Hummingbird
import HTTPTypes

/// Refuses a request that changes something (any method but GET, HEAD and OPTIONS) when the browser says it
/// comes from another site: `Sec-Fetch-Site` other than `same-origin` or `none` (typed into the address bar),
/// or, from a browser that does not send it, an `Origin` that is not this site's. Programs that send neither
/// (curl, API clients with bearer tokens) are not browsers riding a guest's cookie, and pass.
///
/// Signed-in pages also carry a token in every form (``Session/formToken``), checked by the routes: this check
/// is the first line, that one the second (OWASP's cross-site request forgery cheat sheet).
struct CrossSiteRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        switch request.method {
        case .get, .head, .options: break
        default:
            guard Self.isSameSite(request.headers, authority: request.head.authority) else {
                throw WebError.crossSiteRequest
            }
        }
        return try await next(request, context)
    }

    /// - Parameter authority: the request's `Host` (HTTPTypes keeps it as the authority, not as a header).
    static func isSameSite(_ headers: HTTPFields, authority: String?) -> Bool {
        if let site = headers[.secFetchSite]?.lowercased() {
            return site == "same-origin" || site == "none"
        }
        guard let origin = headers[.origin] else { return true }
        guard let host = authority?.lowercased(), !host.isEmpty else { return false }
        let lowered = origin.lowercased()
        return lowered == "http://" + host || lowered == "https://" + host
    }
}

extension HTTPField.Name {
    /// Fetch Metadata (W3C): where a browser's request comes from.
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
}
