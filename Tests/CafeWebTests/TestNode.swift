import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Projection
import Prometheus
import TestSupport

/// One node as the tests run it: a real event log in a fresh temporary directory, the book over it, and
/// the web application over the book, served on a real port.
struct TestNode: Sendable {
    let book: TemporaryLogBook
    let registry: PrometheusCollectorRegistry
    let directory: String

    /// Runs `body` against a live server (port 0) over a fresh node; removes everything afterwards.
    ///
    /// - Parameters:
    ///   - configuration: the web configuration (its host and port are replaced by HummingbirdTesting).
    ///   - logConfiguration: the event log's configuration, for injected faults.
    static func withLiveServer<Result: Sendable>(
        configuration: WebConfiguration = WebConfiguration(timeZone: TimeZone(identifier: "UTC")!),
        logConfiguration: EventLogConfiguration = EventLogConfiguration(),
        _ body: @Sendable (TestNode, any TestClientProtocol) async throws -> Result
    ) async throws -> Result {
        try await withTemporaryDirectory(label: "web") { directory in
            let log = try EventLog(directory: directory.appending("log"), configuration: logConfiguration)
            let node = TestNode(
                book: TemporaryLogBook(log: log), registry: PrometheusCollectorRegistry(),
                directory: directory.appending("log"))
            var logger = Logger(label: "CafeWebTests")
            logger.logLevel = .critical
            let app = makeApplication(
                book: node.book, configuration: configuration, metricsRegistry: node.registry, logger: logger)
            do {
                let result = try await app.test(.live) { client in try await body(node, client) }
                await log.close()
                return result
            } catch {
                await log.close()
                throw error
            }
        }
    }

    /// The log's records, as the audit tools see them: what was stored.
    func storedRecordCount() -> UInt64 {
        book.log.endOffset
    }
}

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
