extension PostgresConnection {
    /// Time limits and TCP settings for a connection.
    ///
    /// Each of these is a default: a connection string (or libpq's matching `PG*` environment variable,
    /// such as `PGCONNECT_TIMEOUT` or `PGOPTIONS`) that sets the same libpq keyword wins, because it is
    /// the operator's word for this deployment. The deadline a call is given always wins over everything:
    /// no call outlives it.
    ///
    /// The defaults fit a web request path and a projector talking to Aurora in the same region: a dead
    /// host is given up after 5 s, a call that gets no answer after 10 s, and an idle connection whose
    /// peer vanished is noticed by TCP within about 25 s.
    public struct Options: Sendable {
        /// How long to try each host before moving to the next one (libpq's `connect_timeout`, applied
        /// per host, as libpq does). Default 5 s. libpq counts whole seconds and at least 2; this module
        /// enforces the exact value itself.
        public var connectTimeout: Duration

        /// The deadline of calls that are given none: the call must finish within this long from its
        /// start. Default 10 s. When ``connect(_:options:deadline:logger:)`` is given no deadline, it
        /// allows ``connectTimeout`` for each host instead.
        public var queryTimeout: Duration

        /// The server's `statement_timeout` for the session, sent in the startup packet (as
        /// `options=-c statement_timeout=…`), or `nil` to leave the server's setting. Default 8 s: a little
        /// under ``queryTimeout``, so that a slow statement is normally cancelled by the server, which
        /// keeps the connection usable, before the caller's deadline closes it. Set `nil` behind a
        /// connection pooler that refuses startup options (PgBouncer does).
        public var statementTimeout: Duration?

        /// Seconds of idleness before TCP sends a keepalive probe (`keepalives_idle`). Default 10 s.
        public var keepalivesIdle: Duration

        /// Time between unanswered keepalive probes (`keepalives_interval`). Default 5 s.
        public var keepalivesInterval: Duration

        /// Unanswered probes before TCP drops the connection (`keepalives_count`). Default 3.
        public var keepalivesCount: Int

        /// How long sent data may stay unacknowledged before TCP drops the connection
        /// (`tcp_user_timeout`). Default 15 s.
        public var tcpUserTimeout: Duration

        /// Shown in `pg_stat_activity.application_name` unless the connection string or `PGAPPNAME`
        /// names one (`fallback_application_name`). Default `rananeeti`.
        public var applicationName: String

        /// Creates options; every parameter has the default documented on its property.
        public init(
            connectTimeout: Duration = .seconds(5),
            queryTimeout: Duration = .seconds(10),
            statementTimeout: Duration? = .seconds(8),
            keepalivesIdle: Duration = .seconds(10),
            keepalivesInterval: Duration = .seconds(5),
            keepalivesCount: Int = 3,
            tcpUserTimeout: Duration = .seconds(15),
            applicationName: String = "rananeeti"
        ) {
            self.connectTimeout = connectTimeout
            self.queryTimeout = queryTimeout
            self.statementTimeout = statementTimeout
            self.keepalivesIdle = keepalivesIdle
            self.keepalivesInterval = keepalivesInterval
            self.keepalivesCount = keepalivesCount
            self.tcpUserTimeout = tcpUserTimeout
            self.applicationName = applicationName
        }
    }
}

extension Duration {
    /// Whole seconds, rounded up, at least `minimum`.
    func wholeSecondsRoundedUp(minimum: Int64 = 0) -> Int64 {
        let (seconds, attoseconds) = self.components
        return max(minimum, seconds + (attoseconds > 0 ? 1 : 0))
    }

    /// Whole milliseconds, rounded up, at least 0.
    var wholeMillisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return max(0, milliseconds + (remainder > 0 ? 1 : 0))
    }
}
