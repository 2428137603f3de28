import Postgres
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(5))) struct ErrorTests {
    private let ordersTable = """
        CREATE SCHEMA cafe;
        CREATE TABLE cafe.ordersraw (
            ordrid SERIAL PRIMARY KEY, ordrdgst char(20) UNIQUE NOT NULL, ordrname varchar(40) NOT NULL,
            ordrppl integer NOT NULL, ordrdttm timestamp(0) NOT NULL, ordrtxt varchar(200));
        """
    private let insert = """
        INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
        VALUES ($1, $2, $3, $4::timestamp, $5)
        """

    @Test func uniqueViolationIsDataRefusedWithItsSQLState() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.executeScript(self.ordersTable)
            let values: [any PostgresEncodable] = ["2e401f4cba1d2e90f354", "Bob", 2, "2020-11-16T20:00", "window"]
            try await connection.execute(self.insert, values)
            let error = await #expect(throws: PostgresError.self) { try await connection.execute(self.insert, values) }
            #expect(error?.code == .dataRefused)
            #expect(error?.sqlState == "23505")
            #expect(error?.constraintName == "ordersraw_ordrdgst_key")
            #expect(error?.serverMessage?.contains("duplicate key") == true)
            #expect(error?.isRetryable == false)
            // Data errors leave the connection usable.
            #expect(await connection.isOpen)
            #expect(try await connection.query("SELECT count(*) FROM cafe.ordersraw")[0].decode(Int.self, column: 0) == 1)
        }
    }

    @Test func valueTooLongIsDataRefused22001() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.executeScript(self.ordersTable)
            let name = String(repeating: "n", count: 41)
            let error = await #expect(throws: PostgresError.self) {
                try await connection.execute(self.insert, ["8a2f1dbfc18c8f751533", name, 2, "2020-11-16T20:00", nil as String?])
            }
            #expect(error?.code == .dataRefused)
            #expect(error?.sqlState == "22001")
            #expect(error?.message.contains("22001") == true)
        }
    }

    @Test func otherServerErrorsKeepTheirSQLState() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let syntax = await #expect(throws: PostgresError.self) { try await connection.query("SELEC 1") }
            #expect(syntax?.code == .server)
            #expect(syntax?.sqlState == "42601")
            let missing = await #expect(throws: PostgresError.self) { try await connection.query("SELECT * FROM nowhere") }
            #expect(missing?.code == .server)
            #expect(missing?.sqlState == "42P01")
            #expect(missing?.isRetryable == false)
        }
    }

    @Test func unreachablePortIsUnreachable() async throws {
        // A port nothing listens on: a proxy that refuses has closed its listening socket.
        let proxy = try TCPProxy(targetPort: 1, mode: .refuse)
        defer { proxy.close() }
        let (result, elapsed) = await timed {
            try await PostgresConnection.connect("host=127.0.0.1 port=\(proxy.port) user=postgres dbname=postgres connect_timeout=120")
        }
        let error = result.postgresError()
        #expect(error?.code == .unreachable)
        #expect(error?.isRetryable == true)
        #expect(error?.message.contains("127.0.0.1") == true)
        // A refusal is known at once: far sooner than the 120 s connect timeout (with room for a busy machine).
        #expect(elapsed < TestTiming.margin(.seconds(30)))
    }

    @Test func wrongPasswordIsUnreachableAndNeverQuoted() async throws {
        let server = try await PostgresServer.shared()
        let user = "pw_user_\(UInt32.random(in: 0...UInt32.max))"
        try await server.executeAsSuperuser(
            "CREATE ROLE \(user) LOGIN PASSWORD 'right-horse-battery' IN ROLE password_users")
        let secret = "wrong-Staple-9f3a"
        let base = "host=127.0.0.1 port=\(server.port) user=\(user) dbname=postgres"

        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(base + " password=\(secret)")
        }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("password authentication failed") == true)
        for text in [error?.message, error?.description, error?.detailedDescription()] {
            #expect(text?.contains(secret) == false)
        }

        // The URI form too.
        let uriError = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect("postgresql://\(user):\(secret)@127.0.0.1:\(server.port)/postgres")
        }
        #expect(uriError?.code == .unreachable)
        #expect(uriError?.description.contains(secret) == false)

        // The right password works.
        try await PostgresConnection.withConnection(base + " password=right-horse-battery") { connection throws in
            #expect(try await connection.query("SELECT current_user")[0].decode(String.self, column: 0) == user)
        }
    }

    @Test func malformedConnectionStringsAreMisuseAndNotEchoed() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect("host=localhost password hunter2secret")
        }
        #expect(error?.code == .misuse)
        #expect(error?.message.contains("hunter2secret") == false)
        #expect(PostgresConnection.redactedConnectionString("host=x password hunter2secret") == "(unparseable connection string)")
    }

    @Test func redactedConnectionStringsHideThePassword() {
        let keyValue = PostgresConnection.redactedConnectionString("host=db1,db2 user=app password='s3 cret' dbname=cafe")
        #expect(keyValue.contains("s3 cret") == false)
        #expect(keyValue.contains("host=db1,db2"))
        #expect(keyValue.contains("password=********"))
        let uri = PostgresConnection.redactedConnectionString("postgresql://app:s3cret@db1:5432/cafe?sslmode=require")
        #expect(uri.contains("s3cret") == false)
        #expect(uri.contains("sslmode=require"))
        #expect(uri.contains("password=********"))
    }

    @Test func callsOnAClosedConnectionAreMisuse() async throws {
        let connection = try await PostgresConnection.connect(try await makeDatabase())
        await connection.close()
        #expect(await connection.isOpen == false)
        let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
        #expect(error?.code == .misuse)
    }

    @Test func serverStatementTimeoutIsTimedOutAndKeepsTheConnection() async throws {
        var options = PostgresConnection.Options()
        options.statementTimeout = .milliseconds(200)
        try await PostgresConnection.withConnection(try await makeDatabase(), options: options) { connection throws in
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT pg_sleep(10)") }
            #expect(error?.code == .timedOut)
            #expect(error?.sqlState == "57014")
            #expect(await connection.isOpen)
            #expect(try await connection.query("SHOW statement_timeout")[0].decode(String.self, column: 0) == "200ms")
        }
    }

    @Test func theConnectionStringWinsOverOptions() async throws {
        let database = try await makeDatabase()
        let rows = try await PostgresConnection.withConnection(
            database + " options='-c statement_timeout=1234' application_name=custom"
        ) { connection throws in
            try await connection.query("SELECT current_setting('statement_timeout'), current_setting('application_name')")
        }
        let (statementTimeout, applicationName) = try rows[0].decode((String, String).self)
        #expect(statementTimeout == "1234ms")
        #expect(applicationName == "custom")

        // Without them, the options' defaults apply.
        let defaults = try await PostgresConnection.withConnection(database) { connection throws in
            try await connection.query("SELECT current_setting('statement_timeout'), current_setting('application_name')")
        }
        let (defaultTimeout, defaultName) = try defaults[0].decode((String, String).self)
        #expect(defaultTimeout == "8s")
        #expect(defaultName == "rananeeti")
    }
}
