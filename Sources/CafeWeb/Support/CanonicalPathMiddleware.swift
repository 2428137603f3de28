import Hummingbird

/// Refuses every spelling of a path but the canonical one, with 404, before any route is looked up.
///
/// The router ignores empty segments, so `/metrics/` and `//metrics` reach the route `/metrics`, while a
/// proxy's exact rule (`location = /metrics` in nginx, a load balancer's path condition) does not match them:
/// a path the proxy thinks is harmless would open an endpoint it meant to keep out. No path of this site needs
/// anything but letters, digits, `-`, `_`, `.` and `/`, so anything else (a percent-escape such as
/// `%2Fmetrics`, a backslash), an empty segment (`//`, a trailing `/`) or a dot segment is answered 404.
struct CanonicalPathMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard Self.isCanonical(request.uri.path) else {
            throw WebError.noSuchEndpoint(method: request.method, path: "this address")
        }
        return try await next(request, context)
    }

    static func isCanonical(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        if path == "/" { return true }
        let allowed = path.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "/"):
                true
            default: false
            }
        }
        guard allowed else { return false }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".."
        }
    }
}
