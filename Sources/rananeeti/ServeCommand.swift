import ArgumentParser
import CafeWeb
import EventLog
import Foundation
import Hummingbird
import Logging
import Projection

/// `rananeeti serve`: the website and API of one node.
///
/// MINIMAL VERSION: log-only (no `--database`, no projector, no metrics bootstrap), enough to run the site
/// for the browser test. The full command (projector, service lifecycle, configuration from the
/// environment) replaces it.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the reservation website and JSON API of one node (log-only).",
        discussion: """
            Reservations are stored in the event log in --data-dir and read from the node's local projection; \
            without a database every page says it is showing this node's reservations only. Stops on SIGINT \
            or SIGTERM after finishing the requests in progress.
            """
    )

    @Option(help: "The address to listen on, HOST:PORT.") var listen = "127.0.0.1:8080"
    @OptionGroup var node: NodeOptions

    func validate() throws {
        guard Self.hostAndPort(listen) != nil else {
            throw ValidationError("--listen must be HOST:PORT, for example 127.0.0.1:8080.")
        }
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
        let nodeID = try node.resolveNodeID()
        let (host, port) = Self.hostAndPort(listen)!
        let logger = makeLogger(label: "rananeeti.serve")
        let log = try reportingLogErrors { try EventLog(directory: node.directory) }
        try node.storeNodeID(nodeID)
        let projection = LocalProjection()
        try reportingLogErrors { _ = try projection.rebuild(from: log.makeReader()) }
        let book = NodeReservationBook(log: log, projection: projection, node: nodeID)
        let app = makeApplication(book: book, configuration: WebConfiguration(host: host, port: port), logger: logger)
        logger.notice("Serving", metadata: ["listen": "\(listen)", "data-dir": "\(node.directory)", "node": "\(nodeID)"])
        do {
            try await app.runService()
        } catch {
            await log.close()
            throw error
        }
        await log.close()
    }
}
