import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import Logging
import NIOCore
import Orders
import Postgres
import Projection
import Prometheus
import TestSupport

/// One node as the tests run it: a real event log in a fresh temporary directory, its local projection,
/// the node's `NodeReservationBook` over them (log-only, or reading a real PostgreSQL), and the web
/// application over the book, served on a real port.
struct TestNode: Sendable {
    let book: NodeReservationBook
    let registry: PrometheusCollectorRegistry
    let directory: String
    /// The projector, when the node has a database; tests drain it to move reservations on.
    let projector: Projector?
    /// The public listener's configuration (its status links, sign-in).
    let configuration: WebConfiguration
    let logger: Logger

    /// A database for the node: a migrated database of the shared private PostgreSQL server.
    struct Database: Sendable {
        var connectionString: String
        var faults: FaultSwitch
        /// libpq timeouts: short, so that a projector notices a failed server within a test.
        var options = PostgresConnection.Options(
            connectTimeout: .seconds(2), queryTimeout: .seconds(3), statementTimeout: .seconds(3))

        static func make(on dedicated: PostgresServer? = nil) async throws -> Database {
            let server = if let dedicated { dedicated } else { try await PostgresServer.shared() }
            let connectionString = try await server.createDatabase()
            try await PostgresConnection.withConnection(connectionString) { connection in
                _ = try await SchemaMigrator().migrate(connection: connection)
            }
            return Database(connectionString: connectionString, faults: FaultSwitch())
        }

        /// Settings for a test node. The tests make the database fail outright (a fault drill, a stopped
        /// server), which reads notice at once; so the read deadline can be generous: a first read, with a fresh
        /// connection on a machine busy with the rest of the suite, must not turn `local` just for being slow.
        var settings: DatabaseSettings {
            DatabaseSettings(
                connectionString: connectionString,
                options: options,
                readDeadline: TestTiming.margin(.seconds(5)), readRetryAfter: .milliseconds(200))
        }
    }

    /// Runs `body` against a live server (port 0) over a fresh node; removes everything afterwards.
    ///
    /// - Parameters:
    ///   - configuration: the web configuration (its host and port are replaced by HummingbirdTesting).
    ///   - logConfiguration: the event log's configuration, for injected faults.
    ///   - database: PostgreSQL for reads and projection; nil for a log-only node.
    ///   - logger: the application's logger.
    static func withLiveServer<Result: Sendable>(
        configuration: WebConfiguration = WebConfiguration(timeZone: TimeZone(identifier: "UTC")!),
        logConfiguration: EventLogConfiguration = EventLogConfiguration(),
        database: Database? = nil,
        logger: Logger = testLogger,
        _ body: @Sendable (TestNode, any TestClientProtocol) async throws -> Result
    ) async throws -> Result {
        try await withTemporaryDirectory(label: "web") { directory in
            let log = try EventLog(directory: directory.appending("log"), configuration: logConfiguration)
            let projection = LocalProjection()
            try projection.rebuild(from: log.makeReader())
            let reads = database.map { DatabaseReads(settings: $0.settings, faults: $0.faults, logger: testLogger) }
            let status = ProjectorStatusBoard()
            let projector = database.map {
                Projector(
                    source: log, node: "web-test", database: $0.settings, projection: projection, status: status,
                    configuration: Projector.Configuration(
                        batchDelay: .milliseconds(1), failureDemoAttempts: 2, failureDemoDelay: .milliseconds(50)),
                    faults: $0.faults, logger: testLogger)
            }
            let book = NodeReservationBook(
                log: log, projection: projection, node: "web-test", reads: reads,
                projectorState: database == nil ? nil : status)
            let node = TestNode(
                book: book, registry: PrometheusCollectorRegistry(), directory: directory.appending("log"),
                projector: projector, configuration: configuration, logger: logger)
            let app = makeApplication(
                book: book, configuration: configuration, metricsRegistry: node.registry, logger: logger)
            func close() async {
                await reads?.close()
                await log.close()
            }
            do {
                let result = try await app.test(.live) { client in try await body(node, client) }
                await close()
                return result
            } catch {
                await close()
                throw error
            }
        }
    }

    /// Runs `body` with a client of the node's operator listener (`/metrics`, `/readyz` details, `/admin/*`,
    /// the whole book without sign-in): the same book and metrics, the public configuration's admin token,
    /// drill hook and status links. Requests go through the router in process, as on loopback.
    func withOperatorClient<Result: Sendable>(
        _ body: @Sendable (any TestClientProtocol) async throws -> Result
    ) async throws -> Result {
        var operations = WebConfiguration(
            adminToken: configuration.adminToken, onFault: configuration.onFault, timeZone: configuration.timeZone,
            listener: .operator, statusLinks: configuration.statusLinks)
        operations.options = configuration.options
        let app = makeApplication(book: book, configuration: operations, metricsRegistry: registry, logger: logger)
        return try await app.test(.router) { client in try await body(client) }
    }

    /// The private link to a reservation's status page (what the guest who booked it was given).
    func statusLink(_ digest: String) -> String {
        "/orders/\(digest)?token=\(configuration.statusLinks.token(for: ReservationDigest(digest)!))"
    }

    /// The API path of a reservation with its private-link token.
    func apiLink(_ digest: String) -> String {
        "/api/v1/reservations/\(digest)?token=\(configuration.statusLinks.token(for: ReservationDigest(digest)!))"
    }

    /// How many records the node's log holds: what was stored.
    func storedRecordCount() -> UInt64 {
        book.log.endOffset
    }

    /// Projects everything in the log into the database.
    func project() async throws {
        try await projector?.drain(to: book.log.endOffset)
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "rananeeti.web-test")
    logger.logLevel = ProcessInfo.processInfo.environment["RANANEETI_TEST_LOG"] == nil ? .critical : .debug
    return logger
}()

extension TestClientProtocol {
    /// Posts the reservation form as a browser does.
    func postForm(_ fields: [(String, String)], headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(
            uri: "/order", method: .post, headers: headers, body: ByteBuffer(string: FormEncoding.encode(fields)))
    }

    /// Posts a JSON body to the API.
    func postJSON(
        _ json: String, path: String = "/api/v1/reservations", headers: HTTPFields = [:],
        contentType: String? = "application/json"
    ) async throws -> TestResponse {
        var headers = headers
        if let contentType { headers[.contentType] = contentType }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers, body: nil)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object.
    func jsonObject() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        guard let object = value as? [String: Any] else { throw TestFailure("not a JSON object: \(text)") }
        return object
    }
}

/// `application/x-www-form-urlencoded`, as browsers write it.
enum FormEncoding {
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "*"):
                output.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: " "): output += "+"
            default: output += String(format: "%%%02X", byte)
            }
        }
        return output
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A digest in the path of a `303 See Other` to a status page.
func digest(fromLocation location: String?) -> String? {
    guard let location, location.hasPrefix("/orders/") else { return nil }
    return String(location.dropFirst("/orders/".count))
}

extension HTTPField.Name {
    static let xRananeetiSource = HTTPField.Name("X-Rananeeti-Source")!
    static let xRequestID = HTTPField.Name("X-Request-Id")!
    static let xIdempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let xIdempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
