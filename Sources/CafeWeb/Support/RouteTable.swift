import Hummingbird
import HTTPTypes
import Synchronization

/// The router's routes by path pattern, so that a request for a path that exists under other methods is
/// answered 405 Method Not Allowed with an `Allow` header (RFC 9110, 15.5.6) rather than 404.
///
/// Loaded once, after every route is registered: the middleware that reads it has to be added before the
/// routes it wraps.
final class RouteTable: Sendable {
    private struct Route: Sendable {
        let components: [RouterPath.Element]
        var methods: [HTTPRequest.Method]
    }

    private let routes = Mutex<[Route]>([])

    func load<Context>(_ descriptions: [Router<Context>.RouteDescription]) {
        var loaded: [Route] = []
        for description in descriptions {
            if let index = loaded.firstIndex(where: { $0.components == description.path.components }) {
                loaded[index].methods.append(description.method)
            } else {
                loaded.append(Route(components: description.path.components, methods: [description.method]))
            }
        }
        routes.withLock { $0 = loaded }
    }

    /// The methods the routes matching `path` take (HEAD wherever GET is), in a stable order; empty when no
    /// route matches the path at all.
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods: Set<HTTPRequest.Method> = []
        routes.withLock { routes in
            for route in routes where route.components.count == segments.count {
                if zip(route.components, segments).allSatisfy({ $0 ~= $1 }) { methods.formUnion(route.methods) }
            }
        }
        if methods.contains(.get) { methods.insert(.head) }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }
}
