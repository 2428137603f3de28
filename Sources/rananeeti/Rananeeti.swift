import ArgumentParser

@main
struct Rananeeti: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rananeeti",
        abstract: "Takes a cafe's reservations into a durable local log and projects them into PostgreSQL.",
        version: RananeetiVersion.current,
        subcommands: [ServeCommand.self, LogCommand.self, DatabaseCommand.self, ReplayCommand.self, ProjectCommand.self, DrainCommand.self]
    )
}

enum RananeetiVersion {
    static let current = "0.1.0"
}
