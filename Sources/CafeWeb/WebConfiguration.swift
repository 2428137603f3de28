public import Foundation
public import Identity

/// How the website and the JSON API behave: where they listen, what they accept, what they call things.
///
/// The read deadline for PostgreSQL is not here: the ``Projection/ReservationBook`` applies it.
public struct WebConfiguration: Sendable {
    /// The address to listen on. Defaults to `127.0.0.1`, for a node behind its local proxy.
    public var host: String
    /// The TCP port to listen on. Defaults to 8080; 0 asks the system for a free port.
    public var port: Int
    /// The largest request body read, in bytes. A larger body is refused with 413 Content Too Large before
    /// more than this is read. Defaults to 16 KiB (16,384 bytes), far above any real reservation.
    public var maximumRequestBodyBytes: Int
    /// The bearer token that `POST /admin/faults` requires. Defaults to nil, which turns the admin
    /// endpoints off (they answer 404 as if they did not exist).
    public var adminToken: String?
    /// Makes the database unreachable for the given duration, for demonstrations and drills; called by
    /// `POST /admin/faults`. Defaults to nil: the endpoint then answers 501 even with the right token.
    public var onFault: (@Sendable (Duration) async -> Void)?
    /// The name of the site, after the page name in every title. Defaults to "Reservations".
    public var siteName: String
    /// The cafe's name, in every page's header. Defaults to "Café Rananeeti".
    public var cafeName: String
    /// The cafe's time zone: what "today" means for the list of reservations, and how the times a node
    /// took a reservation (kept in UTC) are shown. Defaults to the process's time zone.
    public var timeZone: TimeZone
    /// The `Server` response header. Defaults to nil (no header).
    public var serverName: String?
    /// A per-client limit on posts (``PostRateLimit``). Defaults to nil: no limit, for tests and benchmarks
    /// that post from one address; `rananeeti serve` takes it from `--post-rate-limit`, and both shipped
    /// configurations (the env file, the AWS bootstrap) set one.
    public var postRateLimit: PostRateLimit?
    /// Which listener this application serves: the public site and API (default), or the operator's
    /// endpoints (``Listener``). A node runs one of each.
    public var listener: Listener
    /// Signs and checks the private links to a reservation's status page. The same keys on every node
    /// (`--session-keys-file`). Defaults to a random key of this process: links then work on this node until it
    /// stops, which suits tests.
    public var statusLinks: StatusLinks
    /// Sign-in with an OpenID Connect provider, and sessions. Defaults to nil: nobody signs in; guests book
    /// without an account, and the book of every reservation is only on the operator listener.
    public var signIn: SignInService?
    /// Whether booking needs a signed-in guest, as on the old site. Defaults to true when ``signIn`` is set.
    public var requireSignIn: Bool
    /// Whether cookies carry `Secure`: the site is reached over https (behind TLS at the proxy or the load
    /// balancer). Defaults to false; `serve` sets it when the sign-in redirect URL is https.
    public var secureCookies: Bool
    /// Knobs that rarely need turning.
    public var options: Options

    /// Knobs that rarely need turning.
    public struct Options: Sendable {
        /// The most reservations one API page returns (`limit`). Defaults to 500.
        public var maximumPageSize: Int
        /// The page size when a client names none. Defaults to 50.
        public var defaultPageSize: Int
        /// The most reservations the website's list shows on one page. Defaults to 200.
        public var websiteListPageSize: Int
        /// The days a list covers when the request names no end (the website's `days`, the API's `to`).
        /// Defaults to 14.
        public var defaultListDays: Int
        /// The most days the website's list covers at once. Defaults to 92 (about three months).
        public var websiteListMaximumDays: Int
        /// The longest database outage `POST /admin/faults` may ask for. Defaults to 1 hour.
        public var maximumFaultDuration: Duration
        /// Seconds in the `Retry-After` header of a 503 when the log cannot take a reservation. Defaults to 30.
        public var retryAfterSeconds: Int
        /// How long a keep-alive connection may wait for its next request before it is closed. Defaults to
        /// 75 seconds: longer than the 60-second idle timeout of an AWS load balancer and of nginx's upstream
        /// keep-alive, so that the proxy closes idle connections first and never sends a request down one
        /// that this server is closing.
        public var idleTimeout: Duration
        /// How long a request's head (request line and headers) may take to arrive, from its first byte. A
        /// slower client ("slowloris") is disconnected. Defaults to 10 seconds.
        public var requestHeadTimeout: Duration
        /// How long a request's body may take to arrive, from the end of its head. A slower client is
        /// disconnected. Defaults to 20 seconds: a body is at most `maximumRequestBodyBytes` (16 KiB).
        public var requestBodyTimeout: Duration
        /// The largest request head accepted, all header fields together, in bytes; a larger one is answered
        /// 400 and the connection closed. Defaults to 32 KiB (32,768 bytes), like four of nginx's 8 KiB
        /// header buffers.
        public var maximumHeaderBytes: Int
        /// The largest single header field, in bytes. Defaults to 16 KiB (16,384 bytes).
        public var maximumHeaderFieldBytes: Int
        /// The most header fields in one request. Defaults to 100.
        public var maximumHeaderFieldCount: Int

        /// Creates options; every value has the default documented on its property.
        public init(
            maximumPageSize: Int = 500,
            defaultPageSize: Int = 50,
            websiteListPageSize: Int = 200,
            defaultListDays: Int = 14,
            websiteListMaximumDays: Int = 92,
            maximumFaultDuration: Duration = .seconds(3600),
            retryAfterSeconds: Int = 30,
            idleTimeout: Duration = .seconds(75),
            requestHeadTimeout: Duration = .seconds(10),
            requestBodyTimeout: Duration = .seconds(20),
            maximumHeaderBytes: Int = 32 * 1024,
            maximumHeaderFieldBytes: Int = 16 * 1024,
            maximumHeaderFieldCount: Int = 100
        ) {
            precondition(
                idleTimeout > .zero && requestHeadTimeout > .zero && requestBodyTimeout > .zero,
                "timeouts must be positive")
            precondition(
                maximumHeaderFieldBytes >= 1024 && maximumHeaderBytes >= maximumHeaderFieldBytes,
                "header limits out of order")
            precondition(maximumPageSize >= 1 && (1...maximumPageSize).contains(defaultPageSize), "page sizes out of order")
            precondition(websiteListPageSize >= 1, "websiteListPageSize must be at least 1")
            precondition((1...websiteListMaximumDays).contains(defaultListDays), "list days out of order")
            self.maximumPageSize = maximumPageSize
            self.defaultPageSize = defaultPageSize
            self.websiteListPageSize = websiteListPageSize
            self.defaultListDays = defaultListDays
            self.websiteListMaximumDays = websiteListMaximumDays
            self.maximumFaultDuration = maximumFaultDuration
            self.retryAfterSeconds = retryAfterSeconds
            self.idleTimeout = idleTimeout
            self.requestHeadTimeout = requestHeadTimeout
            self.requestBodyTimeout = requestBodyTimeout
            self.maximumHeaderBytes = maximumHeaderBytes
            self.maximumHeaderFieldBytes = maximumHeaderFieldBytes
            self.maximumHeaderFieldCount = maximumHeaderFieldCount
        }
    }

    /// Creates a configuration; every value has the default documented on its property.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        maximumRequestBodyBytes: Int = 16 * 1024,
        adminToken: String? = nil,
        onFault: (@Sendable (Duration) async -> Void)? = nil,
        siteName: String = "Reservations",
        cafeName: String = "Café Rananeeti",
        timeZone: TimeZone = .current,
        serverName: String? = nil,
        postRateLimit: PostRateLimit? = nil,
        listener: Listener = .public,
        statusLinks: StatusLinks? = nil,
        signIn: SignInService? = nil,
        requireSignIn: Bool? = nil,
        secureCookies: Bool = false,
        options: Options = Options()
    ) {
        precondition(maximumRequestBodyBytes >= 1024, "maximumRequestBodyBytes must be at least 1 KiB")
        self.host = host
        self.port = port
        self.maximumRequestBodyBytes = maximumRequestBodyBytes
        self.adminToken = adminToken
        self.onFault = onFault
        self.siteName = siteName
        self.cafeName = cafeName
        self.timeZone = timeZone
        self.serverName = serverName
        self.postRateLimit = postRateLimit
        self.listener = listener
        self.statusLinks = statusLinks ?? StatusLinks(keys: try! SessionKeys(text: SessionKeys.generateKeyLine()))
        self.signIn = signIn
        self.requireSignIn = requireSignIn ?? (signIn != nil)
        self.secureCookies = secureCookies
        self.options = options
    }
}
