/// An error from PostgreSQL or from talking to it.
///
/// Every error has a ``Code`` that says what kind of failure it was, and so what a caller should do
/// about it (``isRetryable``), a ``message`` for people that says what happened and what to do, and,
/// when the server sent one, the ``sqlState`` and the server's own words.
///
/// No error carries a password: messages name hosts, ports, users and databases, never a connection
/// string. Use ``PostgresConnection/redactedConnectionString(_:)`` to show a connection string.
///
/// ``serverDetail`` may quote the data of the row that failed (PostgreSQL's `DETAIL: Key (…)=(…)`),
/// so ``description`` leaves it out; ``detailedDescription()`` and `debugDescription` include it.
public struct PostgresError: Error, Sendable {
    /// What kind of failure this was.
    public var code: Code

    /// What happened and what to do about it, for people.
    public var message: String

    /// The five-character SQLSTATE the server sent, such as `23505`, or `nil` when the failure did not
    /// come from the server (an unreachable host, a deadline, a closed socket, a misuse).
    public var sqlState: String?

    /// The server's primary message (`PG_DIAG_MESSAGE_PRIMARY`), when the server sent one.
    public var serverMessage: String?

    /// The server's `DETAIL`, which may quote row data.
    public var serverDetail: String?

    /// The server's `HINT`.
    public var serverHint: String?

    /// The constraint that was violated, for SQLSTATE class 23.
    public var constraintName: String?

    /// Where the error was created, for logs and bug reports.
    public var location: SourceLocation

    /// Creates an error. Most errors are made by this module; this initializer is for tests and
    /// adapters that need to produce the same shape.
    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        serverMessage: String? = nil,
        serverDetail: String? = nil,
        serverHint: String? = nil,
        constraintName: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.serverDetail = serverDetail
        self.serverHint = serverHint
        self.constraintName = constraintName
        self.location = SourceLocation(file: file, line: line)
    }

    /// Whether the same work may succeed if tried again — on a new connection for ``Code/unreachable``,
    /// ``Code/timedOut``, ``Code/connectionLost`` and ``Code/readOnly``; on the same one for transient
    /// server errors such as serialization failures and deadlocks (SQLSTATE 40001, 40P01).
    ///
    /// Data refused by the server (``Code/dataRefused``) and misuse are never retryable: the same input
    /// fails the same way.
    public var isRetryable: Bool {
        switch self.code {
        case .unreachable, .timedOut, .connectionLost, .readOnly:
            return true
        case .dataRefused, .misuse:
            return false
        default:
            guard let sqlState = self.sqlState else { return false }
            return SQLState.isTransient(sqlState)
        }
    }

    /// Where an error was created.
    public struct SourceLocation: Sendable, Hashable {
        /// The `#fileID` of the creating code.
        public var file: String
        /// The line in ``file``.
        public var line: Int
    }
}

extension PostgresError {
    /// A broad classification of a ``PostgresError``; compare with `==` or `switch` over the static
    /// members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unreachable
            case timedOut
            case connectionLost
            case dataRefused
            case readOnly
            case server
            case misuse
        }

        private var wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// No connection could be made: every host refused, did not answer within its
        /// `connect_timeout`, or rejected the login (wrong password, unknown database, a read-only server
        /// where `target_session_attrs=read-write` asked for a writer). Check the server and the settings;
        /// retry later.
        public static var unreachable: Self { Self(.unreachable) }

        /// The call did not finish before its deadline, or the server cancelled the statement
        /// (`statement_timeout`, SQLSTATE 57014). After a deadline the connection is closed; after a
        /// server-side statement timeout it stays usable.
        public static var timedOut: Self { Self(.timedOut) }

        /// The connection broke during the call (server stopped or restarted, failover, network fault).
        /// The connection is closed; whether the statement took effect is unknown, so retry only
        /// idempotent work, on a new connection.
        public static var connectionLost: Self { Self(.connectionLost) }

        /// The server refused the data (SQLSTATE class 22, data exception, or 23, integrity constraint
        /// violation: a duplicate key, a value too long, a NULL in a NOT NULL column). Retrying the same
        /// data fails the same way; fix it or set it aside.
        public static var dataRefused: Self { Self(.dataRefused) }

        /// The server is read-only (SQLSTATE 25006), as an Aurora writer becomes after a failover. Close the
        /// connection and reconnect, with `target_session_attrs=read-write`, to reach the new writer.
        public static var readOnly: Self { Self(.readOnly) }

        /// Any other error the server reported; ``PostgresError/sqlState`` says which.
        public static var server: Self { Self(.server) }

        /// The API was used in a way that cannot work: a closed connection, a NUL byte in a text value,
        /// a NULL or unparseable value decoded into a non-optional type, a nested transaction.
        public static var misuse: Self { Self(.misuse) }

        public var description: String {
            switch self.wrapped {
            case .unreachable: return "unreachable"
            case .timedOut: return "timedOut"
            case .connectionLost: return "connectionLost"
            case .dataRefused: return "dataRefused"
            case .readOnly: return "readOnly"
            case .server: return "server"
            case .misuse: return "misuse"
            }
        }
    }
}

extension PostgresError: CustomStringConvertible, CustomDebugStringConvertible {
    /// The code, the SQLSTATE when there is one, and the message. Leaves out ``serverDetail``.
    public var description: String {
        if let sqlState = self.sqlState {
            return "PostgresError.\(self.code) (SQLSTATE \(sqlState)): \(self.message)"
        }
        return "PostgresError.\(self.code): \(self.message)"
    }

    public var debugDescription: String {
        self.detailedDescription()
    }

    /// A multi-line description with every field, including ``serverDetail`` (which may quote row data).
    public func detailedDescription() -> String {
        var lines = ["PostgresError: \(self.code)", "├─ Reason: \(self.message)"]
        if let sqlState = self.sqlState {
            lines.append("├─ SQLSTATE: \(sqlState)" + (SQLState.name(of: sqlState).map { " (\($0))" } ?? ""))
        }
        if let detail = self.serverDetail { lines.append("├─ Detail: \(detail)") }
        if let hint = self.serverHint { lines.append("├─ Hint: \(hint)") }
        if let constraint = self.constraintName { lines.append("├─ Constraint: \(constraint)") }
        lines.append("└─ Source location: \(self.location.file):\(self.location.line)")
        return lines.joined(separator: "\n")
    }
}

/// SQLSTATE codes this module treats specially, with their PostgreSQL names (Appendix A of the manual).
enum SQLState {
    static let readOnlySQLTransaction = "25006"
    static let queryCanceled = "57014"

    /// A failure of the connection itself rather than of the statement: the server ends the session.
    static func endsSession(_ sqlState: String) -> Bool {
        sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }

    /// Class 22 (data exception) and 23 (integrity constraint violation): the data itself was refused.
    static func isDataRefusal(_ sqlState: String) -> Bool {
        sqlState.hasPrefix("22") || sqlState.hasPrefix("23")
    }

    /// Errors that may go away when the same work is tried again.
    static func isTransient(_ sqlState: String) -> Bool {
        switch sqlState {
        case "40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03":
            return true
        default:
            return sqlState.hasPrefix("08") || sqlState.hasPrefix("53")
        }
    }

    static func name(of sqlState: String) -> String? {
        switch sqlState {
        case "08000": return "connection_exception"
        case "08006": return "connection_failure"
        case "22001": return "string_data_right_truncation"
        case "22003": return "numeric_value_out_of_range"
        case "22007": return "invalid_datetime_format"
        case "22008": return "datetime_field_overflow"
        case "22021": return "character_not_in_repertoire"
        case "22P02": return "invalid_text_representation"
        case "22P05": return "untranslatable_character"
        case "23502": return "not_null_violation"
        case "23503": return "foreign_key_violation"
        case "23505": return "unique_violation"
        case "23514": return "check_violation"
        case "25006": return "read_only_sql_transaction"
        case "28P01": return "invalid_password"
        case "3D000": return "invalid_catalog_name"
        case "40001": return "serialization_failure"
        case "40P01": return "deadlock_detected"
        case "42601": return "syntax_error"
        case "42P01": return "undefined_table"
        case "42703": return "undefined_column"
        case "53300": return "too_many_connections"
        case "55P03": return "lock_not_available"
        case "57014": return "query_canceled"
        case "57P01": return "admin_shutdown"
        case "57P02": return "crash_shutdown"
        case "57P03": return "cannot_connect_now"
        default: return nil
        }
    }
}
