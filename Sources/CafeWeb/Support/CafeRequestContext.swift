import Hummingbird
import Logging
import NIOCore

/// What the application knows about one request besides the request itself.
struct CafeRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection's peer: the client, or the proxy in front of it (the rate limit sorts that out).
    let remoteAddress: SocketAddress?
    /// The request's id: the caller's `X-Request-Id` when it is sane, else one made here. Also in the
    /// logger's metadata and echoed in the response.
    var requestID: String
    /// Who is asking, once ``AccountMiddleware`` has looked (a stranger until then).
    var visitor = Visitor()

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        // Hummingbird gives every request an id in the logger's metadata; keep it unless the caller sent one.
        requestID = source.logger[metadataKey: LogKey.requestID].map { "\($0)" } ?? ""
    }

    /// Bodies are read by ``RequestBodyReader`` with the configured limit; Hummingbird's own decoders are
    /// not used, so this only bounds what nothing reads.
    var maxUploadSize: Int { 16 * 1024 }
}

/// Logger metadata keys, in one place.
enum LogKey {
    /// The request id: Hummingbird's key, so that its own log lines carry ours too.
    static let requestID = "hb.request.id"
    static let method = "http.method"
    static let path = "http.path"
    static let route = "http.route"
    static let status = "http.status"
    static let durationMilliseconds = "duration_ms"
    static let digest = "reservation.digest"
    static let outcome = "reservation.outcome"
    static let error = "error"
    static let source = "read.source"
}

/// Accepts a caller's request id when it cannot hurt: 1...128 characters from a conservative set, so that it
/// is safe in a header, a log line and a URL.
enum RequestIdentifier {
    static let maximumLength = 128

    static func sanitized(_ candidate: String?) -> String? {
        guard let candidate, (1...maximumLength).contains(candidate.utf8.count) else { return nil }
        let allowed = candidate.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: "/"):
                true
            default: false
            }
        }
        return allowed ? candidate : nil
    }
}
