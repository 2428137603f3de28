internal import CLibPQ
import Glibc

/// How to connect: the libpq keyword/value pairs of each attempt, in order.
///
/// libpq enforces `connect_timeout` (per host) only inside its blocking `PQconnectdb`; the manual
/// says of `PQconnectPoll`: "The connect_timeout connection parameter is ignored when using
/// PQconnectPoll; it is the application's responsibility to decide whether an excessive amount of time
/// has elapsed." To honour it per host, as a multi-host Aurora string expects (a black-holed writer must
/// not eat the whole deadline), a string with several hosts becomes one attempt per host, each with one
/// host and the same other settings; libpq still checks `target_session_attrs` on each.
struct ConnectionPlan {
    struct Attempt {
        /// libpq keywords and values, passed with `expand_dbname = 0`.
        var parameters: [(keyword: String, value: String)]
        /// `host … port …`, for messages; never a password.
        var target: String
    }

    var attempts: [Attempt]
    /// How long each attempt may take, or `nil` for no limit but the call's deadline.
    var perAttemptTimeout: Duration?

    /// The keywords libpq reads from an environment variable when a connection string lacks them, for
    /// the keywords this plan looks at.
    private static let environmentVariables: [String: String] = [
        "host": "PGHOST",
        "hostaddr": "PGHOSTADDR",
        "port": "PGPORT",
        "connect_timeout": "PGCONNECT_TIMEOUT",
        "options": "PGOPTIONS",
        "target_session_attrs": "PGTARGETSESSIONATTRS",
    ]

    init(connectionString: String?, options: PostgresConnection.Options) throws(PostgresError) {
        let explicit = try ConnectionPlan.parse(connectionString ?? "")

        func value(_ keyword: String) -> String? {
            if let value = explicit.first(where: { $0.keyword == keyword })?.value { return value }
            if let variable = ConnectionPlan.environmentVariables[keyword], let value = getenv(variable) {
                let string = String(cString: value)
                return string.isEmpty ? nil : string
            }
            return nil
        }

        // Our defaults first, then the caller's string, then the merged `options`; later keys win.
        var base: [(keyword: String, value: String)] = []
        func setDefault(_ keyword: String, _ value: String) {
            if explicit.contains(where: { $0.keyword == keyword }) { return }
            if let variable = ConnectionPlan.environmentVariables[keyword], getenv(variable) != nil { return }
            base.append((keyword, value))
        }
        setDefault("connect_timeout", String(options.connectTimeout.wholeSecondsRoundedUp(minimum: 2)))
        setDefault("keepalives", "1")
        setDefault("keepalives_idle", String(options.keepalivesIdle.wholeSecondsRoundedUp(minimum: 1)))
        setDefault("keepalives_interval", String(options.keepalivesInterval.wholeSecondsRoundedUp(minimum: 1)))
        setDefault("keepalives_count", String(max(1, options.keepalivesCount)))
        setDefault("tcp_user_timeout", String(options.tcpUserTimeout.wholeMillisecondsRoundedUp))
        setDefault("fallback_application_name", options.applicationName)

        let splitKeywords: Set<String> = ["host", "hostaddr", "port", "options", "target_session_attrs"]
        base.append(contentsOf: explicit.filter { !splitKeywords.contains($0.keyword) })

        // statement_timeout goes into the startup packet unless the operator's options already set it.
        var startupOptions = value("options") ?? ""
        if let statementTimeout = options.statementTimeout, !startupOptions.contains("statement_timeout") {
            let milliseconds = max(1, statementTimeout.wholeMillisecondsRoundedUp)
            startupOptions += (startupOptions.isEmpty ? "" : " ") + "-c statement_timeout=\(milliseconds)"
        }
        if !startupOptions.isEmpty {
            base.append(("options", startupOptions))
        }

        // Per-host time limit: the string's (or PGCONNECT_TIMEOUT's) whole seconds, read as libpq reads
        // them (0 or less is no limit, 1 is 2), else ours.
        if let text = value("connect_timeout") {
            guard let seconds = Int(text.trimmingSpaces) else {
                throw PostgresError(
                    code: .misuse,
                    message: "connect_timeout must be a whole number of seconds, not \"\(text)\"."
                )
            }
            self.perAttemptTimeout = seconds <= 0 ? nil : .seconds(max(2, seconds))
        } else {
            self.perAttemptTimeout = options.connectTimeout
        }

        let hosts = value("host").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let hostaddrs = value("hostaddr").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        let ports = value("port").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let hostCount = max(hosts?.count ?? 0, hostaddrs?.count ?? 0)

        // prefer-standby means: any standby first, then anything (libpq does two passes too).
        let sessionAttributes = value("target_session_attrs")
        let passes: [String?] =
            sessionAttributes == "prefer-standby" ? ["standby", "any"] : [sessionAttributes]

        var attempts: [Attempt] = []
        let countsMatch =
            (hosts == nil || hosts!.count == hostCount) && (hostaddrs == nil || hostaddrs!.count == hostCount)
            && (ports == nil || ports!.count == 1 || ports!.count == hostCount)
        if hostCount <= 1 || !countsMatch {
            // One host, or a list libpq will refuse with its own message: one attempt, passed through.
            for pass in passes {
                var parameters = base
                if let host = value("host") { parameters.append(("host", host)) }
                if let hostaddr = value("hostaddr") { parameters.append(("hostaddr", hostaddr)) }
                if let port = value("port") { parameters.append(("port", port)) }
                if let pass { parameters.append(("target_session_attrs", pass)) }
                attempts.append(
                    Attempt(
                        parameters: parameters,
                        target: ConnectionPlan.describe(host: value("host"), hostaddr: value("hostaddr"), port: value("port"))
                    )
                )
            }
        } else {
            for pass in passes {
                for index in 0..<hostCount {
                    var parameters = base
                    let host = hosts?[index]
                    let hostaddr = hostaddrs?[index]
                    let port = ports.map { $0.count == 1 ? $0[0] : $0[index] }
                    if let host { parameters.append(("host", host)) }
                    if let hostaddr { parameters.append(("hostaddr", hostaddr)) }
                    if let port { parameters.append(("port", port)) }
                    if let pass { parameters.append(("target_session_attrs", pass)) }
                    attempts.append(
                        Attempt(
                            parameters: parameters,
                            target: ConnectionPlan.describe(host: host, hostaddr: hostaddr, port: port)
                        )
                    )
                }
            }
        }
        self.attempts = attempts
    }

    private static func describe(host: String?, hostaddr: String?, port: String?) -> String {
        let where_ = [host, hostaddr].compactMap { $0?.isEmpty == false ? $0 : nil }.first ?? "default host"
        return "\(where_) port \(port.flatMap { $0.isEmpty ? nil : $0 } ?? "5432")"
    }

    /// The keyword/value pairs a connection string sets, in libpq's keyword order.
    static func parse(_ connectionString: String) throws(PostgresError) -> [(keyword: String, value: String)] {
        guard !connectionString.trimmingSpaces.isEmpty else { return [] }
        if connectionString.utf8.contains(0) {
            throw PostgresError(code: .misuse, message: "The connection string contains a NUL character.")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            var reason = "out of memory"
            if let errorMessage {
                reason = ConnectionPlan.withoutQuotedText(String(cString: errorMessage))
                PQfreemem(errorMessage)
            }
            throw PostgresError(
                code: .misuse,
                message: "The connection string could not be parsed (\(reason)). Use libpq's "
                    + "\"key=value key=value\" or \"postgresql://user@host:port/database?key=value\" form."
            )
        }
        defer { PQconninfoFree(options) }
        var pairs: [(keyword: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                pairs.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return pairs
    }

    /// libpq's parse errors quote the offending token (`missing "=" after "…"`), which may be a password.
    static func withoutQuotedText(_ message: String) -> String {
        var result = ""
        var inQuotes = false
        for character in message.trimmingSpaces {
            if character == "\"" {
                if !inQuotes { result += "\"…\"" }
                inQuotes.toggle()
            } else if !inQuotes {
                result.append(character)
            }
        }
        return result
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
