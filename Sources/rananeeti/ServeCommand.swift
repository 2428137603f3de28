import ArgumentParser
import CafeWeb
import EventLog
import Foundation
import Hummingbird
import Identity
import Logging
import Metrics
import Prometheus
import Projection
import ServiceLifecycle
import UnixSignals

/// `rananeeti serve`: one node — its event log, local projection, projector and website.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one node: take reservations into the local log, project them into PostgreSQL, serve the site and API.",
        discussion: """
            Every reservation is on disk (fsync'd) before the guest gets an answer; the projector writes them into \
            cafe.ordersraw in the background. Without a database setting (--database, RANANEETI_DATABASE or PG* \
            variables) the node runs log-only and says so. SIGTERM or SIGINT: stop taking requests, finish the \
            ones in progress, sync the log, exit. SIGUSR1: stop taking reservations, to retire the node \
            (`rananeeti drain` sends it); SIGUSR2: take them again. Under systemd with Type=notify it reports \
            READY=1 once the site answers, and feeds WatchdogSec= while it keeps answering.
            """
    )

    @Option(help: "The address to listen on, HOST:PORT. (Environment: RANANEETI_LISTEN; default 127.0.0.1:8080)")
    var listen: String?
    @OptionGroup var node: NodeOptions
    @OptionGroup var logOptions: LogOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var identity: IdentityOptions
    @Option(help: "A file holding the bearer token that enables POST /admin/faults on the operator listener. (Environment: RANANEETI_ADMIN_TOKEN_FILE, or the token itself in RANANEETI_ADMIN_TOKEN; default: disabled)")
    var adminTokenFile: String?
    @Option(help: "How long a page waits for PostgreSQL before answering from the local projection, in milliseconds.")
    var readDeadlineMilliseconds = 300
    @Flag(help: "Do not run a projector in this process (run `rananeeti project` separately).")
    var noProjector = false
    @Option(
        help: "Posts each client address may make: RATE[/BURST] per second, e.g. 5/20; `off` for none. Answered 429 beyond it. (Environment: RANANEETI_POST_RATE_LIMIT; default off)")
    var postRateLimit: String?
    @Option(
        name: .customLong("trusted-proxy"),
        help: "A proxy (address or CIDR) whose X-Forwarded-For names the client, for the rate limit; repeat it for more. (Environment: RANANEETI_TRUSTED_PROXIES, comma-separated; default none)")
    var trustedProxies: [String] = []
    @Option(help: "How many days of the past the local projection keeps in memory, by date-time or by when taken (older ones are read from the database).")
    var recentDays = 31

    var address: String {
        listen ?? ProcessInfo.processInfo.environment["RANANEETI_LISTEN"] ?? "127.0.0.1:8080"
    }

    func validate() throws {
        guard Self.hostAndPort(address) != nil else {
            throw ValidationError("--listen (or RANANEETI_LISTEN) must be HOST:PORT, for example 127.0.0.1:8080.")
        }
        guard (1...3660).contains(recentDays) else { throw ValidationError("--recent-days must be from 1 to 3660.") }
        guard readDeadlineMilliseconds > 0 else { throw ValidationError("--read-deadline-milliseconds must be positive.") }
        _ = try rateLimit()
    }

    /// The admin token: from `--admin-token-file`, `RANANEETI_ADMIN_TOKEN_FILE` or `RANANEETI_ADMIN_TOKEN`.
    func adminToken() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = adminTokenFile ?? environment["RANANEETI_ADMIN_TOKEN_FILE"] {
            return try IdentityOptions.readSecret(path, what: "admin token file")
        }
        return environment["RANANEETI_ADMIN_TOKEN"]
    }

    /// The post rate limit from `--post-rate-limit` and `--trusted-proxy` (or their environment variables).
    func rateLimit() throws -> PostRateLimit? {
        let environment = ProcessInfo.processInfo.environment
        let text = (postRateLimit ?? environment["RANANEETI_POST_RATE_LIMIT"] ?? "off").trimmingCharacters(in: .whitespaces)
        let proxies =
            trustedProxies.isEmpty
            ? (environment["RANANEETI_TRUSTED_PROXIES"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            : trustedProxies
        if let bad = proxies.first(where: { PostRateLimit(postsPerSecond: 1, burst: 1, trustedProxies: [$0]) == nil }) {
            throw ValidationError(
                "--trusted-proxy (or RANANEETI_TRUSTED_PROXIES) \"\(bad)\" is not an IP address or CIDR network, such as 10.40.0.0/16 or 127.0.0.1.")
        }
        if text.isEmpty || text == "off" { return nil }
        guard let limit = PostRateLimit.parse(text, trustedProxies: proxies) else {
            throw ValidationError(
                "--post-rate-limit (or RANANEETI_POST_RATE_LIMIT) must be RATE[/BURST] with a positive rate and a burst of at least 1, such as 5/20, or off; it is \"\(text)\".")
        }
        return limit
    }

    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        // First of all: SIGUSR1 (`rananeeti drain`) must never meet its default action, which ends the process.
        let drainSignals = await UnixSignalsSequence(trapping: DrainSignal.stopTakingSignal, DrainSignal.resumeTakingSignal)
        let logger = makeLogger(label: "rananeeti.serve")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let nodeID = try node.resolveNodeID()
        let (hooked, testHooks) = try TestHooks.logConfiguration(environment: ProcessInfo.processInfo.environment)
        let logConfiguration = try logOptions.apply(to: hooked)
        for hook in testHooks {
            logger.warning("TEST HOOK active; never set it in production", metadata: ["hook": "\(hook)"])
        }
        let log = try reportingLogErrors {
            try EventLog(directory: node.directory, configuration: logConfiguration, observer: LogObserver(logger: logger))
        }
        try node.storeNodeID(nodeID)
        if log.recovery.createdDirectory { logger.notice("created a new event log", metadata: ["data_dir": "\(node.directory)"]) }
        if let cut = log.recovery.cutTail {
            logger.warning("recovery cut a torn, never-acknowledged tail", metadata: ["file": "\(cut.file)", "byte": "\(cut.byteOffset)", "bytes": "\(cut.byteCount)", "saved_to": "\(cut.savedTo ?? "-")"])
        }

        // Reservations not yet projected are kept beyond the recent window only where this process learns when
        // they are projected: a node without its own projector would otherwise keep its whole history.
        let projection = LocalProjection(
            configuration: LocalProjection.Configuration(
                recentWindow: .seconds(Int64(recentDays) * 86_400), keepsUnprojected: database.isConfigured && !noProjector))
        let loadedSnapshot = try reportingLogErrors { try Self.buildProjection(projection, log: log, logger: logger) }
        let faults = FaultSwitch()
        // First in the group, so that it stops last: after the HTTP server, it reads what was taken and writes
        // the last snapshot.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ProjectionKeeper(log: log, projection: projection, lastSnapshotOffset: loadedSnapshot, logger: logger))
        ]
        var reads: DatabaseReads?
        var projectorStatus: ProjectorStatusBoard?
        if database.isConfigured {
            var settings = database.settings
            settings.readDeadline = .milliseconds(readDeadlineMilliseconds)
            reads = DatabaseReads(settings: settings, faults: faults, logger: logger)
            if !noProjector {
                let status = ProjectorStatusBoard()
                projectorStatus = status
                let projector = Projector(
                    source: log, node: nodeID, database: settings, projection: projection, status: status,
                    configuration: Projector.Configuration(localDeadLetterFile: node.directory + "/dead-letters.jsonl"),
                    faults: faults, logger: logger)
                services.append(.init(service: projector))
            }
            logger.notice("database configured", metadata: ["database": "\(database.redacted)", "projector": "\(noProjector ? "off" : "on")"])
        } else {
            logger.notice("no database configured: running log-only; reservations are kept on this node's disk and every page says so")
        }

        let book = NodeReservationBook(log: log, projection: projection, node: nodeID, reads: reads, projectorState: projectorStatus)
        services.append(.init(service: DrainSignalService(signals: drainSignals, book: book, logger: logger)))
        let (host, port) = Self.hostAndPort(address)!
        let keys = try identity.sessionKeys(dataDirectory: node.directory, logger: logger)
        let signIn = try identity.signIn(keys: keys, logger: logger)
        var web = WebConfiguration(host: host, port: port)
        web.statusLinks = StatusLinks(keys: keys)
        web.signIn = signIn
        web.requireSignIn = identity.requiresSignIn(hasProvider: signIn != nil)
        web.secureCookies = signIn?.provider.configuration.redirectURL.scheme == "https"
        web.postRateLimit = try rateLimit()
        if let limit = web.postRateLimit {
            logger.notice(
                "posts are rate-limited per client",
                metadata: ["per_second": "\(limit.postsPerSecond)", "burst": "\(limit.burst)", "trusted_proxies": "\(limit.trustedProxies)"])
        }
        if let signIn {
            logger.notice(
                "guests sign in with OpenID Connect",
                metadata: ["issuer": "\(signIn.provider.configuration.issuerIdentifier)", "require_sign_in": "\(web.requireSignIn)"])
        }
        let app = makeApplication(book: book, configuration: web, metricsRegistry: registry, logger: logger)
        // The operator listener: the same book with every door open, so it listens on loopback by default.
        let (operatorHost, operatorPort) = Self.hostAndPort(identity.operatorAddress)!
        var operations = WebConfiguration(host: operatorHost, port: operatorPort, listener: .operator)
        operations.statusLinks = web.statusLinks
        operations.adminToken = try adminToken()
        operations.onFault = { duration in faults.makeDatabaseUnreachable(for: duration) }
        // Where the operator listener really is (port 0: wherever the system put it), for `rananeeti drain` and
        // the node's own scripts: DATA_DIR/operator-listen.
        let operatorAddressFile = node.directory + "/" + IdentityOptions.operatorAddressFileName
        let operatorApp = makeApplication(
            book: book, configuration: operations, metricsRegistry: registry, logger: logger,
            onServerRunning: { port in
                let address = "\(operatorHost.contains(":") ? "[\(operatorHost)]" : operatorHost):\(port)"
                do {
                    try NodeOptions.writeDurably(operatorAddressFile, address + "\n")
                } catch {
                    logger.warning("could not record the operator listener's address", metadata: ["file": "\(operatorAddressFile)", "error": "\(error)"])
                }
                logger.notice("operator endpoints listening", metadata: ["operator_listen": "\(address)"])
            })
        // Shutdown runs in reverse order: the HTTP servers stop taking requests and finish those in flight
        // (their appends included) first, then the projector stops; the log is synced and closed last.
        services.append(.init(service: operatorApp))
        services.append(.init(service: app))
        if let notifier = SystemdNotifier.fromEnvironment() {
            services.append(.init(service: SystemdWatchdog(notifier: notifier, host: host, port: port, logger: logger)))
        }
        logger.notice(
            "serving",
            metadata: [
                "listen": "\(address)", "operator_listen": "\(identity.operatorAddress)", "data_dir": "\(node.directory)",
                "node": "\(nodeID)",
            ])
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await reads?.close()
            await log.close()
            throw error
        }
        await reads?.close()
        await log.close()
        logger.notice("stopped cleanly; the log is synced", metadata: ["end_offset": "\(log.endOffset)"])
    }

    /// For a rebuild of a log whose oldest segments were archived: what the rebuild cannot see.
    private static func archivedNote(_ log: EventLog) -> String {
        let start = log.startOffset
        guard start > 0 else { return "" }
        return " on this disk, which starts at offset \(start) (the events before it were archived and are in the database; reservations only there are answered by the database, not from this node's memory)"
    }

    /// Builds the local projection from its snapshot and the log after it, or from the whole log when there is no
    /// usable snapshot (said in the log). Returns the offset of the snapshot loaded, if one was.
    static func buildProjection(_ projection: LocalProjection, log: EventLog, logger: Logger) throws -> UInt64? {
        let start = ContinuousClock.now
        let reader = try log.makeReader(from: log.startOffset)
        var loaded: UInt64?
        switch try LogSnapshot.load(
            kind: LocalProjection.snapshotKind, version: LocalProjection.snapshotVersion, directory: log.directory,
            positioning: reader)
        {
        case .loaded(let snapshot):
            do {
                try projection.load(snapshot)
                loaded = snapshot.offset
            } catch {
                logger.warning("the local projection's snapshot does not decode; rebuilding it from the log", metadata: ["error": "\(error)"])
                try reader.seek(to: log.startOffset)
            }
        case .missing:
            if log.endOffset > log.startOffset {
                logger.notice("no snapshot of the local projection; building it from the whole log (once)\(archivedNote(log))")
            }
            try reader.seek(to: log.startOffset)
        case .rejected(let reason):
            logger.warning("the local projection's snapshot is not used; rebuilding it from the log\(archivedNote(log))", metadata: ["reason": "\(reason)"])
            try reader.seek(to: log.startOffset)
        }
        let from = reader.nextOffset
        let rebuilt = try projection.rebuild(from: reader)
        logger.info(
            "local projection ready",
            metadata: [
                "snapshot_offset": "\(loaded.map(String.init) ?? "none")", "events_read": "\(rebuilt.endOffset - from)",
                "reservations": "\(projection.count)", "took": "\(start.duration(to: .now))",
            ])
        return loaded
    }
}
