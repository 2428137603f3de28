internal import CLibPQ

/// The rows a statement returned, with its command tag.
///
/// A random-access collection of ``PostgresRow``. It keeps the server's result in memory until the last
/// copy of it (or of any of its rows) is gone.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let result: ResultHandle

    /// The column names, in order.
    public let columnNames: [String]

    init(result: ResultHandle) {
        self.result = result
        let columnCount = Int(PQnfields(result.pointer))
        self.columnNames = (0..<columnCount).map { String(cString: PQfname(result.pointer, Int32($0))) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { Int(PQntuples(self.result.pointer)) }

    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < self.endIndex, "row index \(position) out of range")
        return PostgresRow(rows: self, index: position)
    }

    /// The command tag, such as `INSERT 0 3` or `SELECT 2`.
    public var commandTag: String {
        String(cString: PQcmdStatus(self.result.pointer))
    }

    /// The number of rows the statement inserted, updated, deleted, selected, … (from the command tag);
    /// 0 for statements that report none.
    public var affectedRowCount: Int {
        Int(String(cString: PQcmdTuples(self.result.pointer))) ?? 0
    }

    /// Decodes every row as a tuple, column by column: `try rows.decode((String, Int?).self)`.
    ///
    /// - Throws: ``PostgresError/Code/misuse`` when a column is missing, `NULL` for a non-optional type,
    ///   or not readable as the requested type.
    public func decode<each Column: PostgresDecodable>(
        _ types: (repeat each Column).Type
    ) throws(PostgresError) -> [(repeat each Column)] {
        var decoded: [(repeat each Column)] = []
        decoded.reserveCapacity(self.count)
        for row in self {
            decoded.append(try row.decode(types))
        }
        return decoded
    }

    /// Decodes one column of every row: `try rows.decodeColumn(0, as: String.self)`.
    public func decodeColumn<Value: PostgresDecodable>(
        _ column: Int,
        as type: Value.Type = Value.self
    ) throws(PostgresError) -> [Value] {
        var decoded: [Value] = []
        decoded.reserveCapacity(self.count)
        for row in self {
            decoded.append(try row.decode(type, column: column))
        }
        return decoded
    }
}

/// One row of ``PostgresRows``.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let index: Int

    /// The number of columns.
    public var columnCount: Int { self.rows.columnNames.count }

    /// Whether the value in `column` is SQL `NULL`.
    public func isNull(column: Int) -> Bool {
        PQgetisnull(self.rows.result.pointer, Int32(self.index), Int32(column)) == 1
    }

    /// Decodes the value in column `column` (0-based).
    ///
    /// - Throws: ``PostgresError/Code/misuse`` when there is no such column, the value is `NULL` and
    ///   `Value` is not optional, or the text is not a valid `Value`.
    public func decode<Value: PostgresDecodable>(
        _ type: Value.Type = Value.self,
        column: Int
    ) throws(PostgresError) -> Value {
        guard column >= 0, column < self.columnCount else {
            throw PostgresError(
                code: .misuse,
                message: "There is no column \(column): the result has \(self.columnCount) columns "
                    + "(\(self.rows.columnNames.joined(separator: ", "))). Check the SELECT list."
            )
        }
        let result = self.rows.result.pointer
        let name = self.rows.columnNames[column]
        if self.isNull(column: column) {
            guard let null = Value.postgresNullValue else {
                throw PostgresError(
                    code: .misuse,
                    message: "Column \(column) (\(name)) is NULL in row \(self.index), but it was decoded "
                        + "as non-optional \(Value.self). Decode it as \(Value.self)? or make the query "
                        + "return no NULL."
                )
            }
            return null
        }
        let length = Int(PQgetlength(result, Int32(self.index), Int32(column)))
        let value = PQgetvalue(result, Int32(self.index), Int32(column))!
        let bytes = UnsafeBufferPointer(
            start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self),
            count: length
        )
        guard let decoded = Value(postgresText: bytes) else {
            let typeOID = PQftype(result, Int32(column))
            let preview = String(decoding: bytes.prefix(40), as: UTF8.self)
            throw PostgresError(
                code: .misuse,
                message: "Column \(column) (\(name), type OID \(typeOID)) holds \"\(preview)\""
                    + (length > 40 ? "…" : "") + " in row \(self.index), which is not a valid \(Value.self). "
                    + "Decode it as a matching type, or cast it in SQL."
            )
        }
        return decoded
    }

    /// Decodes the value in the column named `name` (the first one, if several share it).
    public func decode<Value: PostgresDecodable>(
        _ type: Value.Type = Value.self,
        column name: String
    ) throws(PostgresError) -> Value {
        guard let column = self.rows.columnNames.firstIndex(of: name) else {
            throw PostgresError(
                code: .misuse,
                message: "There is no column named \(name); the result has "
                    + "\(self.rows.columnNames.joined(separator: ", ")). Check the SELECT list."
            )
        }
        return try self.decode(type, column: column)
    }

    /// Decodes the first columns of the row as a tuple: `let (name, people) = try row.decode((String, Int).self)`.
    public func decode<each Column: PostgresDecodable>(
        _ types: (repeat each Column).Type
    ) throws(PostgresError) -> (repeat each Column) {
        var column = 0
        func next<Value: PostgresDecodable>(_ type: Value.Type) throws(PostgresError) -> Value {
            defer { column += 1 }
            return try self.decode(type, column: column)
        }
        return (repeat try next((each Column).self))
    }
}

/// Owns one `PGresult`, cleared when the last reference goes.
///
/// `@unchecked Sendable`: libpq's manual (section 34.20, "Behavior in Threaded Programs") says
/// "PGresult objects are normally read-only after creation, and so can be passed around freely between
/// threads"; this class exposes the pointer only for reading.
final class ResultHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        PQclear(self.pointer)
    }
}
