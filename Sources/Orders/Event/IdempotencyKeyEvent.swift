/// The event of a node answering a request that carried an `Idempotency-Key`: which reservation the key was used
/// for, and whether the answer was "created" or "already there".
///
/// Appended together with the reservation it names (one append, one sync), so that the key survives a restart
/// or a power cut exactly as durably as the booking, and a client's retry gets the first answer. `docs/EVENTS.md`
/// documents the fields:
///
///     {"type":"idempotency.key","node":"node-a","key":"6f1c…","digest":"2e401f4cba1d2e90f354","created":true}
///
/// Older readers see an unknown type and skip it; the projector writes nothing for it.
public struct IdempotencyKeyEvent: Sendable, Hashable {
    /// The `type` of this event in the log.
    public static let eventType = "idempotency.key"

    /// The node that answered.
    public let node: String
    /// The key as the client sent it: 1 to 255 visible ASCII characters.
    public let key: String
    /// The reservation the key was used for.
    public let digest: ReservationDigest
    /// True when the answer was 201 Created (this request stored the reservation), false for 200 OK (it was
    /// already stored).
    public let created: Bool

    /// - Precondition: ``isValidKey(_:)`` holds for `key`.
    public init(node: String, key: String, digest: ReservationDigest, created: Bool) {
        precondition(Self.isValidKey(key), "an idempotency key is 1 to 255 visible ASCII characters")
        self.node = node
        self.key = key
        self.digest = digest
        self.created = created
    }

    /// Whether `key` is an acceptable `Idempotency-Key`: 1...255 visible ASCII characters (0x21–0x7E).
    public static func isValidKey(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The event as a log record, without the `offset` and `appendedAt` that the log adds.
    public func encodeRecord() -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(96 + node.utf8.count + key.utf8.count)
        record.append(contentsOf: #"{"type":"idempotency.key","node":"#.utf8)
        JSONStringWriter.append(node, to: &record)
        record.append(contentsOf: #","key":"#.utf8)
        JSONStringWriter.append(key, to: &record)
        record.append(contentsOf: #","digest":""#.utf8)
        digest.appendHex(to: &record)
        record.append(contentsOf: created ? #"","created":true}"#.utf8 : #"","created":false}"#.utf8)
        return record
    }

    /// Decodes a stamped line of type `idempotency.key` (one that ``ReservationEvent/decode(line:)`` returned as
    /// ``LoggedEvent/Kind/unknown(type:)`` with this type): every field required, each once, no others.
    ///
    /// - Throws: ``EventDecodingError`` with the byte offset of the first problem.
    public static func decode(line: some Collection<UInt8>) throws(EventDecodingError) -> (LoggedEvent, IdempotencyKeyEvent) {
        try withContiguousBytes(of: line) { bytes throws(EventDecodingError) in
            try decode(bytes)
        }
    }

    private static let fieldNames: [StaticString] = ["offset", "appendedAt", "type", "node", "key", "digest", "created"]

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(EventDecodingError) -> (LoggedEvent, IdempotencyKeyEvent) {
        var reader: JSONObjectReader
        do {
            reader = try JSONObjectReader(bytes: bytes)
        } catch {
            throw EventDecodingError(error)
        }
        var fields = [JSONField?](repeating: nil, count: fieldNames.count)
        while true {
            let next: JSONField?
            do {
                next = try reader.nextField()
            } catch {
                throw EventDecodingError(error)
            }
            guard let field = next else { break }
            guard let index = reader.index(of: field.name, in: fieldNames) else {
                throw EventDecodingError(at: field.nameOffset, "unknown field \(reader.quotedForMessage(field.name))")
            }
            guard fields[index] == nil else {
                throw EventDecodingError(at: field.nameOffset, "duplicate field \(reader.quotedForMessage(field.name))")
            }
            fields[index] = field
        }
        func required(_ index: Int) throws(EventDecodingError) -> JSONField {
            guard let field = fields[index] else {
                throw EventDecodingError(at: bytes.count, "missing field \"\(fieldNames[index])\"")
            }
            return field
        }
        func text(_ index: Int) throws(EventDecodingError) -> String {
            let field = try required(index)
            guard case .string(let token) = field.value else {
                throw EventDecodingError(at: field.valueOffset, "field \"\(fieldNames[index])\": must be a string")
            }
            return reader.decodeString(token)
        }
        let offsetField = try required(0)
        guard case .integer(let offset) = offsetField.value, !offset.isNegative else {
            throw EventDecodingError(at: offsetField.valueOffset, "field \"offset\": must be a non-negative integer")
        }
        let appendedAtText = try text(1)
        guard let appendedAt = EventTimestamp(appendedAtText) else {
            throw EventDecodingError(at: try required(1).valueOffset, "field \"appendedAt\": must be a UTC time like 2026-11-29T03:06:17.123Z")
        }
        guard try text(2) == eventType else {
            throw EventDecodingError(at: try required(2).valueOffset, "field \"type\": must be \"\(eventType)\"")
        }
        let node = try text(3)
        let key = try text(4)
        guard isValidKey(key) else {
            throw EventDecodingError(at: try required(4).valueOffset, "field \"key\": must be 1 to 255 visible ASCII characters")
        }
        guard let digest = ReservationDigest(try text(5)) else {
            throw EventDecodingError(at: try required(5).valueOffset, "field \"digest\": must be 20 lowercase hex digits")
        }
        let createdField = try required(6)
        guard case .bool(let created) = createdField.value else {
            throw EventDecodingError(at: createdField.valueOffset, "field \"created\": must be true or false")
        }
        let logged = LoggedEvent(offset: offset.magnitude, appendedAt: appendedAt, kind: .unknown(type: eventType))
        return (logged, IdempotencyKeyEvent(node: node, key: key, digest: digest, created: created))
    }
}
