import Hummingbird
import HTTPTypes
import Logging
import Synchronization

/// A per-client limit on requests that write (every method but GET, HEAD and OPTIONS): a token bucket per
/// client address, so that no one client can fill the node's log volume, however fast it posts.
///
/// A client is its address as ``ClientAddressResolver`` finds it: `X-Forwarded-For` is believed only from
/// ``trustedProxies``. IPv6 clients are counted per /64, the block one host usually holds.
///
///     var web = WebConfiguration()
///     web.postRateLimit = PostRateLimit(postsPerSecond: 5, burst: 20, trustedProxies: ["10.40.0.0/16"])
public struct PostRateLimit: Sendable, Hashable {
    /// Posts a client may make per second, on average. Must be positive.
    public var postsPerSecond: Double
    /// Posts a client may make at once after a quiet spell (the bucket's size). At least 1.
    public var burst: Int
    /// Networks (CIDR, or single addresses) of the proxies whose `X-Forwarded-For` is believed: the load
    /// balancer's subnets, or `127.0.0.1` for nginx on the same host. Empty: the connection's peer is the client.
    public var trustedProxies: [String]
    /// The most clients tracked at once (about 64 bytes each). Beyond it, clients whose bucket has refilled are
    /// forgotten first (they lose nothing), then the longest idle. Defaults to 100,000.
    public var maximumTrackedClients: Int

    /// Creates a limit; fails (nil) when a trusted proxy is not an address or CIDR, or a number is out of range.
    public init?(postsPerSecond: Double, burst: Int, trustedProxies: [String] = [], maximumTrackedClients: Int = 100_000) {
        guard postsPerSecond > 0, postsPerSecond.isFinite, burst >= 1, maximumTrackedClients >= 16,
            trustedProxies.allSatisfy({ IPNetwork($0) != nil })
        else { return nil }
        self.postsPerSecond = postsPerSecond
        self.burst = burst
        self.trustedProxies = trustedProxies
        self.maximumTrackedClients = maximumTrackedClients
    }

    /// Reads `RATE[/BURST]` (`5/20`: five posts a second, bursts of twenty; the burst defaults to twice the
    /// rate, at least 1); nil when it is not of that form.
    public static func parse(_ text: String, trustedProxies: [String] = []) -> PostRateLimit? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let rate = Double(parts[0]), rate.isFinite, rate > 0 else { return nil }
        let burst: Int
        if parts.count == 2 {
            guard let parsed = Int(parts[1]) else { return nil }
            burst = parsed
        } else {
            burst = max(1, Int((rate * 2).rounded(.up)))
        }
        return PostRateLimit(postsPerSecond: rate, burst: burst, trustedProxies: trustedProxies)
    }
}

/// The buckets of every client: a value-type state machine; the caller brings the time, so that tests need
/// no clock.
struct TokenBuckets: Sendable {
    enum Decision: Equatable, Sendable {
        case allowed
        /// Refused; one post will be allowed again after this long.
        case limited(retryAfter: Duration)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let rate: Double
    let burst: Double
    let maximumClients: Int
    private var buckets: [IPAddress: Bucket] = [:]

    init(rate: Double, burst: Int, maximumClients: Int) {
        precondition(rate > 0 && burst >= 1 && maximumClients >= 1, "TokenBuckets: bad limits")
        self.rate = rate
        self.burst = Double(burst)
        self.maximumClients = maximumClients
    }

    var trackedClients: Int { buckets.count }

    /// Takes one token from `client`'s bucket at `now`, or says how long until there is one.
    mutating func take(_ client: IPAddress, at now: ContinuousClock.Instant) -> Decision {
        var bucket = buckets[client].map { refilled($0, at: now) } ?? Bucket(tokens: burst, updated: now)
        guard bucket.tokens >= 1 else {
            buckets[client] = bucket
            return .limited(retryAfter: .seconds((1 - bucket.tokens) / rate))
        }
        bucket.tokens -= 1
        buckets[client] = bucket
        if buckets.count > maximumClients { forget(at: now) }
        return .allowed
    }

    private func refilled(_ bucket: Bucket, at now: ContinuousClock.Instant) -> Bucket {
        let elapsed = bucket.updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds > 0 else { return bucket }
        return Bucket(tokens: min(burst, bucket.tokens + seconds * rate), updated: now)
    }

    /// Brings the table back under three quarters of its bound: full buckets first (forgetting them changes
    /// nothing), then the longest idle (each of those starts again with a full bucket: a flood of addresses
    /// can only buy itself fresh buckets, which the WAF's rule and the disk alarm are there for).
    private mutating func forget(at now: ContinuousClock.Instant) {
        let target = maximumClients * 3 / 4
        buckets = buckets.filter { refilled($0.value, at: now).tokens < burst }
        guard buckets.count > target else { return }
        let idleFirst = buckets.sorted { $0.value.updated < $1.value.updated }
        for (client, _) in idleFirst.prefix(buckets.count - target) { buckets[client] = nil }
    }
}

/// Applies a ``PostRateLimit``: a write over the limit is answered 429 Too Many Requests with `Retry-After`
/// and a `rate-limited` problem (or page), before its body is read. Reads are never limited.
///
/// Add it after ``RequestObservingMiddleware``, which turns its refusal into the answer.
struct PostRateLimitMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    private let resolver: ClientAddressResolver
    private let buckets: SharedBuckets

    /// The buckets behind a lock, shared by every copy of the middleware.
    private final class SharedBuckets: Sendable {
        let state: Mutex<TokenBuckets>
        init(_ buckets: TokenBuckets) { state = Mutex(buckets) }
    }

    init(_ limit: PostRateLimit) {
        resolver = ClientAddressResolver(trustedProxies: limit.trustedProxies.compactMap(IPNetwork.init))
        buckets = SharedBuckets(
            TokenBuckets(rate: limit.postsPerSecond, burst: limit.burst, maximumClients: limit.maximumTrackedClients))
    }

    /// Methods that only read: never limited.
    static func isRead(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard !Self.isRead(request.method) else { return try await next(request, context) }
        guard let client = resolver.client(
            peer: IPAddress(context.remoteAddress), forwardedFor: request.headers[values: .xForwardedFor])
        else {
            // Not an IP connection (a Unix socket in tests): nothing to key on.
            return try await next(request, context)
        }
        // An IPv6 host usually holds a whole /64: count it as one client.
        let key = client.isIPv4 ? client : client.masked(toPrefix: 64)
        let decision = buckets.state.withLock { $0.take(key, at: .now) }
        switch decision {
        case .allowed:
            return try await next(request, context)
        case .limited(let retryAfter):
            let seconds = max(1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18).rounded(.up)))
            context.logger.info("Refused a post over the client's rate limit", metadata: ["client": "\(client)"])
            throw WebError.rateLimited(retryAfterSeconds: seconds)
        }
    }
}

extension HTTPField.Name {
    /// The client addresses proxies add, the last one by the proxy that connected to us.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
