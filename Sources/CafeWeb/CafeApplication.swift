public import Hummingbird
import HummingbirdCore
public import Logging
import Metrics
public import Projection
public import Prometheus

/// The website, the JSON API and the operations endpoints of one node, as a Hummingbird application.
///
/// Run it with `runService()` (or inside a `ServiceGroup`); tests drive it with HummingbirdTesting.
///
///     let app = makeApplication(book: book, configuration: WebConfiguration(port: 8080),
///                               metricsRegistry: registry, logger: logger)
///     try await app.runService()
///
/// - Parameters:
///   - book: where reservations are taken and read; it applies the database read deadline.
///   - configuration: where to listen and how to behave; see ``WebConfiguration``.
///   - metricsRegistry: the registry the web layer records into and `/metrics` exports. Pass the one the
///     process bootstrapped swift-metrics with, so that `/metrics` also shows what other modules record.
///     Defaults to a fresh registry of its own.
///   - logger: the application's logger; each request's log lines carry its id (`hb.request.id`).
///   - onServerRunning: called with the port once the server listens (port 0 asks the system for one).
/// - Returns: the application, idle until run.
public func makeApplication(
    book: some ReservationBook,
    configuration: WebConfiguration = WebConfiguration(),
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    logger: Logger,
    onServerRunning: (@Sendable (_ port: Int) async -> Void)? = nil
) -> some ApplicationProtocol {
    var factory = PrometheusMetricsFactory(registry: metricsRegistry)
    // A reservation is on disk in well under a millisecond to a few; the default buckets start at 5 ms.
    factory.durationHistogramBuckets[WebMetrics.acceptDurationLabel] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
    ]
    let metrics = WebMetrics(factory: factory)
    let calendar = CafeCalendar(timeZone: configuration.timeZone)
    let pages = SitePages(
        layout: PageLayout(siteName: configuration.siteName, cafeName: configuration.cafeName), calendar: calendar)
    let desk = ReservationDesk(
        book: book, metrics: metrics, retryAfterSeconds: configuration.options.retryAfterSeconds)

    let policy = AccessPolicy(listener: configuration.listener, links: configuration.statusLinks, calendar: calendar)

    let router = Router(context: CafeRequestContext.self, options: [.autoGenerateHeadEndpoints])
    // Middleware applies to the routes added after it, and to the 404 of paths that match none. It answers a
    // known path asked with another method 405 from the route table, loaded once every route is in.
    let routeTable = RouteTable()
    router.add(
        middleware: RequestObservingMiddleware(
            pages: pages, metrics: metrics, routeTable: routeTable, configuration: configuration))
    router.add(middleware: CanonicalPathMiddleware<CafeRequestContext>())
    if configuration.listener == .public {
        router.add(middleware: CrossSiteRequestMiddleware<CafeRequestContext>())
        if let signIn = configuration.signIn { router.add(middleware: AccountMiddleware(signIn: signIn)) }
    }
    if let limit = configuration.postRateLimit {
        router.add(middleware: PostRateLimitMiddleware<CafeRequestContext>(limit))
    }
    SiteRoutes(desk: desk, pages: pages, calendar: calendar, configuration: configuration, policy: policy)
        .register(on: router)
    APIRoutes(
        desk: desk, calendar: calendar, configuration: configuration, pages: pages, policy: policy
    ).register(on: router)
    if configuration.listener == .public, let signIn = configuration.signIn {
        AccountRoutes(signIn: signIn, desk: desk, pages: pages, policy: policy, configuration: configuration)
            .register(on: router)
    }
    OperationsRoutes(book: book, configuration: configuration, registry: metricsRegistry).register(on: router)
    routeTable.load(router.routes)

    let options = configuration.options
    return Application(
        router: router,
        // HTTP/1.1 with deadlines for slow clients and limits on headers (RequestDeadlines.swift).
        server: HTTPServerBuilder { responder in DeadlineHTTP1Channel(responder: responder, options: options) },
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: configuration.serverName),
        onServerRunning: { channel in
            if let onServerRunning, let port = channel.localAddress?.port { await onServerRunning(port) }
        },
        logger: logger)
}
