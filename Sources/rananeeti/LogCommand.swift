import ArgumentParser

/// `rananeeti log …`: the auditors' and scripters' view of a log directory.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Read, check and append to an event log directory.",
        discussion: """
            DIR is a node's data directory: the directory of segment files (`00000000000000000000.lz4`, …). \
            Read-only commands (verify, dump, stats, tail) work while a server is writing the log.
            """,
        subcommands: [LogVerifyCommand.self, LogDumpCommand.self, LogStatsCommand.self, LogTailCommand.self, LogAppendCommand.self, LogArchiveCommand.self, LogRestoreCommand.self]
    )
}
