import Hummingbird
import HTTPTypes
import Logging
import Projection

/// The outermost layer of every route: the request id, the error answers, the security headers, the
/// request metrics and the request's log line.
///
/// Errors become answers here, in one place, so that no route can leak internals: a ``WebError`` becomes
/// a page or an RFC 9457 problem (chosen by path), a Hummingbird 404 becomes "no such page" (or 405 with
/// `Allow` when the path exists under other methods), and anything
/// else a 500 that says only that something went wrong (the error itself goes to the log with the id).
struct RequestObservingMiddleware: RouterMiddleware {
    typealias Context = CafeRequestContext

    let pages: SitePages
    let metrics: WebMetrics
    let routeTable: RouteTable
    let configuration: WebConfiguration

    /// Paths whose errors are answered as `application/problem+json`; every other path gets pages.
    static func answersWithProblems(_ path: String) -> Bool {
        path == "/api" || path.hasPrefix("/api/") || path.hasPrefix("/admin/") || path == "/healthz"
            || path == "/readyz" || path == "/metrics"
    }

    /// The Content-Security-Policy of pages: our own stylesheet and icon, forms posting only to us,
    /// no scripts, no frames.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        if let incoming = RequestIdentifier.sanitized(request.headers[.requestID]) {
            context.requestID = incoming
        }
        context.logger[metadataKey: LogKey.requestID] = .string(context.requestID)
        let logger = context.logger
        var response: Response
        var problem: ProblemType?
        do {
            response = try await withLogger(logger) { _ in try await next(request, context) }
        } catch let error as WebError {
            problem = error.problem
            response = answer(error, to: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routeTable.methods(forPath: request.uri.path)
            let refusal =
                if !allowed.isEmpty {
                    // The path exists, with other methods.
                    WebError.methodNotAllowed(method: request.method, path: request.uri.path, allowed: allowed)
                } else if Self.answersWithProblems(request.uri.path) {
                    WebError.noSuchEndpoint(method: request.method, path: request.uri.path)
                } else {
                    WebError(
                        status: .notFound, problem: .noSuchEndpoint,
                        detail: "There is no page at this address. Please check the link, or start again from the reservation form.")
                }
            problem = refusal.problem
            response = answer(refusal, to: request, context: context)
        } catch {
            problem = .internalError
            logger.error(
                "Unexpected error answered with 500", metadata: [LogKey.error: "\(String(reflecting: error))"])
            response = answer(.internalError, to: request, context: context)
        }
        response.headers[.requestID] = context.requestID
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        }

        let route = Self.route(context.endpointPath)
        let duration = ContinuousClock.now - start
        metrics.recordRequest(route: route, method: request.method, status: response.status, duration: duration)
        if let problem { metrics.recordError(problem) }
        let milliseconds = Double(duration.components.attoseconds / 1_000_000_000_000) / 1000
            + Double(duration.components.seconds) * 1000
        logger.log(
            level: response.status.code >= 500 ? .info : .debug,
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: [
                LogKey.method: .stringConvertible(request.method), LogKey.route: .string(route),
                LogKey.status: .stringConvertible(response.status.code),
                LogKey.durationMilliseconds: .stringConvertible(milliseconds),
            ])
        return response
    }

    /// The router's pattern for the request (`/orders/{digest}`), or `unmatched`, so that metrics have a
    /// bounded set of routes whatever paths clients try.
    private static func route(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath != "NotFound" else { return "unmatched" }
        return endpointPath
    }

    private func answer(_ error: WebError, to request: Request, context: Context) -> Response {
        let requestID = context.requestID
        var headers = error.headers
        if let source = error.source { headers[.rananeetiSource] = source.rawValue }
        guard Self.answersWithProblems(request.uri.path) else {
            // A page that needs a sign-in comes back to where it was asked from (a GET; a form post goes home).
            let returnTo = request.method == .get ? request.uri.description : "/"
            let page = pages.error(
                error, viewer: PageViewer(context: context, configuration: configuration), returnTo: returnTo)
            return .html(page, status: error.status, headers: headers)
        }
        var members: [(String, JSONValue)] = [
            ("type", .string(error.problem.uri)),
            ("title", .string(error.problem.title)),
            ("status", .integer(error.status.code)),
            ("detail", .string(error.detail)),
            ("instance", .string(request.uri.path)),
            ("requestId", .string(requestID)),
        ]
        members += error.extensions
        return .json(.object(members), status: error.status, headers: headers, contentType: "application/problem+json")
    }
}
