import Postgres
import TestSupport
import Testing

/// Strings that break naive quoting: SQL and array-literal syntax, escapes, NULL look-alikes, Unicode.
let hostileStrings: [String] = [
    "",
    " ",
    "  leading and trailing  ",
    "O'Brien",
    "''",
    "say \"hi\"",
    "\"",
    "back\\slash",
    "\\",
    "\\\"",
    "ends with backslash\\",
    "{}",
    "{a,b}",
    "}{",
    "a,b",
    ",",
    "NULL",
    "null",
    "(1,2)",
    "$1",
    "--comment",
    "; DROP TABLE cafe.ordersraw; --",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "café crème",
    "日本語のテキスト",
    "emoji 🍰☕️👩‍👩‍👧",
    "\u{1F600}",
    "zero\u{200B}width",
]

@Suite(.timeLimit(.minutes(5))) struct ValueTests {
    @Test func scalarParametersRoundTrip() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let rows = try await connection.query(
                "SELECT $1::text, $2::int, $3::bigint, $4::bool, $5::float8, $6::int, $7::float8, $8::bigint",
                ["text", 42, Int64.max, true, 0.1, Int32.min, -Double.infinity, Int64.min]
            )
            let (text, int, bigint, bool, double, int32, infinity, minimum) =
                try rows[0].decode((String, Int, Int64, Bool, Double, Int32, Double, Int64).self)
            #expect(text == "text")
            #expect(int == 42)
            #expect(bigint == Int64.max)
            #expect(bool == true)
            #expect(double == 0.1)
            #expect(int32 == Int32.min)
            #expect(infinity == -.infinity)
            #expect(minimum == Int64.min)
            #expect(rows.columnNames.count == 8)
            #expect(rows.commandTag == "SELECT 1")
        }
    }

    @Test func nullParametersAndColumns() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let none: String? = nil
            let some: Int? = 7
            let rows = try await connection.query("SELECT $1::text, $2::int, NULL::int", [none, some])
            let (text, int, null) = try rows[0].decode((String?, Int?, Int?).self)
            #expect(text == nil)
            #expect(int == 7)
            #expect(null == nil)
            #expect(rows[0].isNull(column: 0))

            // NULL into a non-optional is a misuse, and says which column.
            let error = #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, column: 2) }
            #expect(error?.code == .misuse)
            #expect(error?.message.contains("Column 2") == true)
        }
    }

    @Test func hostileStringsRoundTripAsParameters() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            for string in hostileStrings {
                let rows = try await connection.query("SELECT $1::text, length($1::text)", [string])
                let (echo, length) = try rows[0].decode((String, Int).self)
                #expect(echo == string)
                #expect(length == string.unicodeScalars.count)
            }
        }
    }

    @Test func hostileStringArraysRoundTripThroughUnnest() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let withNulls: [String?] = hostileStrings.map { $0 } + [nil, "after null"]
            let rows = try await connection.query(
                "SELECT value, ordinality FROM unnest($1::text[]) WITH ORDINALITY AS t(value, ordinality) ORDER BY ordinality",
                [withNulls]
            )
            let decoded = try rows.decodeColumn(0, as: String?.self)
            #expect(decoded == withNulls)

            // And back as one array value.
            let array = try await connection.query("SELECT $1::text[]", [withNulls])
            #expect(try array[0].decode([String?].self, column: 0) == withNulls)
        }
    }

    @Test func numericAndBooleanArraysRoundTrip() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let ints: [Int64] = [0, -1, 1, Int64.max, Int64.min]
            let people: [Int] = [1, 2, 12]
            let flags: [Bool] = [true, false]
            let doubles: [Double] = [0.5, -2.25, 1e-300, .infinity]
            let optionalInts: [Int?] = [1, nil, 3]
            let rows = try await connection.query(
                "SELECT $1::bigint[], $2::int[], $3::bool[], $4::float8[], $5::int[], $6::int[], $7::text[][]",
                [ints, people, flags, doubles, optionalInts, [Int](), [["a", "b"], ["c,", "{d}"]]]
            )
            let row = rows[0]
            #expect(try row.decode([Int64].self, column: 0) == ints)
            #expect(try row.decode([Int].self, column: 1) == people)
            #expect(try row.decode([Bool].self, column: 2) == flags)
            #expect(try row.decode([Double].self, column: 3) == doubles)
            #expect(try row.decode([Int?].self, column: 4) == optionalInts)
            #expect(try row.decode([Int].self, column: 5) == [])
            #expect(try row.decode([[String]].self, column: 6) == [["a", "b"], ["c,", "{d}"]])
        }
    }

    @Test func zipsArraysRowByRowWithUnnest() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let names = ["Bob", "O'Brien \"the\" \\ {x}", "NULL"]
            let people = [2, 4, 1]
            let rows = try await connection.query(
                "SELECT n, p FROM unnest($1::text[], $2::int[]) AS t(n, p)", [names, people])
            let decoded = try rows.decode((String, Int).self)
            #expect(decoded.map(\.0) == names)
            #expect(decoded.map(\.1) == people)
        }
    }

    @Test func timestampsTravelAsText() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let rows = try await connection.query(
                "SELECT $1::timestamp(0), ($1::timestamp(0))::text = '2020-11-16 20:00:00'", ["2020-11-16T20:00"])
            #expect(try rows[0].decode(String.self, column: 0) == "2020-11-16 20:00:00")
            #expect(try rows[0].decode(Bool.self, column: 1))
        }
    }

    @Test func nulCharacterIsRefusedBeforeSending() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT $1::text", ["a\u{0}b"])
            }
            #expect(error?.code == .misuse)
            #expect(error?.message.contains("$1") == true)
            // Nothing was sent: the connection is still usable.
            #expect(try await connection.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)
        }
    }

    @Test func wrongTypeDecodingSaysWhatItFound() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let rows = try await connection.query("SELECT 'abc'::text AS word")
            let error = #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, column: "word") }
            #expect(error?.code == .misuse)
            #expect(error?.message.contains("abc") == true)
            #expect(throws: PostgresError.self) { try rows[0].decode(String.self, column: 5) }
        }
    }
}

/// The array literal writer and reader, without a server.
@Suite(.timeLimit(.minutes(5))) struct ArrayLiteralTests {
    private func literal(_ value: some PostgresEncodable) -> String {
        var buffer: [UInt8] = []
        value.encodePostgresText(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private func decode<T: PostgresDecodable>(_ text: String, as type: T.Type) -> T? {
        Array(text.utf8).withUnsafeBufferPointer { T(postgresText: $0) }
    }

    @Test func quotesEveryStringAndEscapesQuotesAndBackslashes() {
        let strings: [String?] = ["a", "", "NULL", nil, "x\"y", "b\\s", "{}", "a,b"]
        #expect(literal(strings) == #"{"a","","NULL",NULL,"x\"y","b\\s","{}","a,b"}"#)
        #expect(literal([1, -2, 3] as [Int]) == "{1,-2,3}")
        #expect(literal([[1, 2], [3, 4]] as [[Int]]) == "{{1,2},{3,4}}")
        #expect(literal([String]()) == "{}")
    }

    @Test func readsWhatTheServerPrints() {
        #expect(decode(#"{a,"b c",NULL,"NULL","x\"y","b\\s",""}"#, as: [String?].self)
            == ["a", "b c", nil, "NULL", "x\"y", "b\\s", ""])
        #expect(decode("[0:1]={7,8}", as: [Int].self) == [7, 8])
        #expect(decode("{{1,2},{3,4}}", as: [[Int]].self) == [[1, 2], [3, 4]])
        #expect(decode("{1,NULL}", as: [Int].self) == nil)  // NULL needs an optional element
        #expect(decode("{1,2", as: [Int].self) == nil)
        #expect(decode("not an array", as: [Int].self) == nil)
    }

    @Test func integerTextIsStrict() {
        #expect(decode("-9223372036854775808", as: Int64.self) == Int64.min)
        #expect(decode("9223372036854775808", as: Int64.self) == nil)
        #expect(decode("12a", as: Int.self) == nil)
        #expect(decode("", as: Int.self) == nil)
        #expect(decode("70000", as: Int32.self) == 70000)
        #expect(decode("3000000000", as: Int32.self) == nil)
    }
}
