import ArgumentParser
import EventLog
import Foundation
import Logging
import Projection
import ServiceLifecycle
import UnixSignals

struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Run the projector alone: write a node's log into the database as it grows, until stopped.",
        discussion: """
            `rananeeti serve` runs a projector itself; this command is for a projector in its own process (or \
            to drain a log with no server). When a server holds the log, it follows the log from outside.
            """
    )

    @OptionGroup var node: NodeOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try reportingLogErrors { try LogDirectory.check(node.directory) }
        let nodeID = try node.resolveNodeID()
        let logger = makeLogger(label: "rananeeti.project")
        var log: EventLog?
        do {
            log = try EventLog(directory: node.directory, configuration: EventLogConfiguration(createIfMissing: false))
        } catch let error as LogError where error.code == .locked {
            logger.info("another process writes this log; following it from outside", metadata: ["data_dir": "\(node.directory)"])
        }
        let source: any ProjectorSource = log ?? LogDirectorySource(directory: node.directory, follow: true)
        let projector = Projector(
            source: source, node: nodeID, database: database.settings,
            configuration: Projector.Configuration(localDeadLetterFile: node.directory + "/dead-letters.jsonl"),
            logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: projector)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        if let log { await log.close() }
    }
}
